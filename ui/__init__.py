"""CNN Studio's PySide6 window. Widgets hold no ML logic: they call ``cnnstudio`` and show its results."""
