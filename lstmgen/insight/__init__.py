"""Inside the model: activations, the cell finder, text features, gate saturation, HTML views, plots."""
