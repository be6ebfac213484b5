"""Teaching aids built on the analysis: shape exercises with checked answers. Pure Python."""
