"""Training: the loop, checkpoints, precision and progress reporting."""
