"""A run on disk: the config, checkpoints, loading a run, inspecting it."""
