"""What a network will do before it runs: shapes, parameters, receptive fields, costs and the teaching linter. Pure Python."""
