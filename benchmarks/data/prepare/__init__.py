"""``sgvb prepare NAME RAW OUT``: the standard video-GAN benchmarks from their published raw downloads.

``layouts`` knows each raw layout and split (the built-in preparers, registered in ``registry.PREPARERS``;
contract ``registry.interfaces.DatasetPreparer``), ``render`` turns one source video into frames in a worker,
``build`` runs the workers resumably and assembles the frames zip (StyleGAN-V's layout) and its manifest.
"""

from benchmarks.data.prepare.build import length_histogram, prepare_dataset, staging_dir
from benchmarks.data.prepare.layouts import PrepareError
from registry import PREPARERS
from registry.interfaces import VideoJob

__all__ = ["PREPARERS", "PrepareError", "VideoJob", "length_histogram", "prepare_dataset", "staging_dir"]
