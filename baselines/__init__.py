"""Baseline video GANs re-implemented on the suite's interfaces: DIGAN-style, MoCoGAN-HD-style, MoCoGAN.

Importing this package registers the generators (``digan``, ``mocogan_hd``, ``mocogan``), the
discriminators (``image``, ``digan_motion``, ``video3d``, ``mocogan_hd_image``, ``mocogan_hd_video``)
and the ``ralsgan`` loss. Every model follows ``registry.interfaces`` and is trained by the same harness.
"""

from . import digan, image_discriminators, losses, mocogan, mocogan_hd, video_discriminators  # noqa: F401
