"""Text to batches: sources and built-in corpora, the split, the token cache, batches."""
