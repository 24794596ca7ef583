"""Text from a model: sampling, beam search, the interactive session."""
