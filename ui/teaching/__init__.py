"""The shape exercise mode."""
