"""Inside the model: activations, the unit finder, text features, gate saturation, HTML views, plots."""
