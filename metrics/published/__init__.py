"""FVD as each implementation that published numbers computes it: one named protocol per implementation.

A published FVD is a whole pipeline, not a formula: which clips (``clips``), how frames are resized, cropped and
mapped to a value range (``pixels``), how generated frames became uint8, which covariance and which matrix square
root (``estimators``), and how many repeated draws. ``protocols`` names each implementation's pipeline
(``PROTOCOLS``: StyleGAN-V, StyleGAN-V with k real clips per video, Latte, TATS, DIGAN, VideoGPT and its earlier
[-0.5, 0.5] variant, cd-fvd with I3D and VideoMAE, common_metrics_on_video_quality's two modes and its FVD-vs-length
curve, the original TF FVD); ``compare`` runs any of them on the same real and fake folders, sharing detector
features between protocols wherever the clip and the pixels fed to the network coincide. docs/protocols.md maps
papers to implementations to these names.
"""

from .compare import ComparisonResult, ProtocolResult, compare_protocols, differences
from .protocols import PROTOCOLS, PublishedProtocol, get_protocol

__all__ = [
    "PROTOCOLS",
    "ComparisonResult",
    "ProtocolResult",
    "PublishedProtocol",
    "compare_protocols",
    "differences",
    "get_protocol",
]
