"""The network as the user describes it: the spec, the layer catalog, expressions, presets and edits. Pure Python."""
