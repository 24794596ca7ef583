"""The training loop and what it needs: optimisers, the divergence guard, samples during training, threads, progress."""
