"""Training harness: loop, losses, augmentation, checkpoints, run folder."""
