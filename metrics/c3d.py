"""C3D (Tran et al., 2015) layout, as the stand-in for StyleGAN-V's C3D UCF-101 TorchScript detector.

The real detector is the TorchScript file (its weights and preprocessing are inside it); this module
only gives offline smoke runs a network of the same shape: 8 3x3x3 convolutions in 5 stages, two 4096
fully connected layers, 101 UCF classes, softmax output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (out_channels, convolutions) per stage; pooling after each stage, the first only spatial.
_STAGES = ((64, 1), (128, 1), (256, 2), (512, 2), (512, 2))


class C3D(nn.Module):
    def __init__(self, num_classes: int = 101, width: int = 4096):
        super().__init__()
        layers, c_in = [], 3
        for i, (c_out, n) in enumerate(_STAGES):
            for _ in range(n):
                layers += [nn.Conv3d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]
                c_in = c_out
            layers.append(nn.MaxPool3d((1, 2, 2) if i == 0 else (2, 2, 2), ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.fc6, self.fc7, self.fc8 = nn.Linear(c_in, width), nn.Linear(width, width), nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W]`` float -> class probabilities ``[B, num_classes]``."""
        h = self.features(x).amax(dim=(2, 3, 4))  # [B, 512]: global max over what the stages left
        h = F.relu(self.fc7(F.relu(self.fc6(h))))
        return self.fc8(h).softmax(dim=1)
