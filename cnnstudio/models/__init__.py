"""Keras models from specs, and back: building, importing .keras files, exporting."""
