"""Looking inside a trained model: probes (activations, predictions), pictures and the explainer."""
