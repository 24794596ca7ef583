"""The training loop and what it needs: optimisers, the divergence rollback, samples during training, threads, progress."""
