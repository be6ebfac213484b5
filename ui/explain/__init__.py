"""The convolution explainer window."""
