"""``python -m ui``: the same as the ``cnnstudio`` command (the window by default)."""

from ui.launcher import entry

entry()
