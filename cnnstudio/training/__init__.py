"""Training a model: settings, data sets, devices and the training loop."""
