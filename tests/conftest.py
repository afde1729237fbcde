"""Suite-wide settings: one CPU thread per test process (tiny models gain nothing from more, and
several threads per process thrash a small shared CPU), no plugin autoload surprises from the host."""
import torch

torch.set_num_threads(1)
