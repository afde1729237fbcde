"""``sgvb prepare NAME RAW OUT``: the standard video-GAN benchmarks from their published raw downloads.

``layouts`` knows each raw layout and split, ``render`` turns one source video into frames in a worker,
``build`` runs the workers resumably and assembles the frames zip (StyleGAN-V's layout) and its manifest.
"""
from .build import length_histogram, prepare_dataset, staging_dir
from .layouts import PREPARERS, Preparer, PrepareError
from .render import VideoJob

__all__ = ["PREPARERS", "PrepareError", "Preparer", "VideoJob", "length_histogram", "prepare_dataset", "staging_dir"]
