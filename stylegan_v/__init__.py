"""StyleGAN-V (generator ``stylegan_v``; discriminators ``stylegan_v``, ``stylegan_v_hyper``; positional
encodings ``acyclic``, ``sinusoidal``, ``lerp``, ``none``) and the StyleGAN2 layers the baselines reuse
(``stylegan_v.layers``, pure-PyTorch kernels in ``stylegan_v.ops``).

Importing this package registers the components; use them through ``registry``.
"""

from . import discriminator, generator, layers, motion, ops, positional  # noqa: F401  (registers components)
from .discriminator import StyleGANVDiscriminator, StyleGANVHyperDiscriminator, TimeGapEncoder
from .generator import StyleGANVGenerator
from .layers import (
    Conv2dLayer,
    DiscriminatorBlock,
    DiscriminatorEpilogue,
    EqualizedConv1d,
    FullyConnectedLayer,
    MappingNetwork,
    MinibatchStdLayer,
    SynthesisBlock,
    SynthesisLayer,
    SynthesisNetwork,
    ToRGBLayer,
)
from .motion import MotionMappingNetwork, MotionNoise

__all__ = [
    "Conv2dLayer",
    "DiscriminatorBlock",
    "DiscriminatorEpilogue",
    "EqualizedConv1d",
    "FullyConnectedLayer",
    "MappingNetwork",
    "MinibatchStdLayer",
    "MotionMappingNetwork",
    "MotionNoise",
    "StyleGANVDiscriminator",
    "StyleGANVGenerator",
    "StyleGANVHyperDiscriminator",
    "SynthesisBlock",
    "SynthesisLayer",
    "SynthesisNetwork",
    "TimeGapEncoder",
    "ToRGBLayer",
]
