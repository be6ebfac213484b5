"""The user's work: the editable document, the project file, recorded runs and the session state."""
