"""A run on disk: the config, checkpoints, the run-directory lock, loading a run, inspecting it."""
