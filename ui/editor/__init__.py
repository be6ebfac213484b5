"""The network editor: palette, canvas, property panel and summary table."""
