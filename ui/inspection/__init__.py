"""The Filters, Activations and Results tabs."""
