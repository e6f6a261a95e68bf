"""A tiny frozen FVD feature extractor shared by the metric tests (I3D would dominate their run time)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MeanColourFeatures(nn.Module):
    """A fixed random projection of each clip's per-channel mean and standard deviation,
    ``b t c h w`` -> ``b 6``."""

    num_features = 6

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(6, 6)
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(6, 6, generator=generator))
            self.proj.bias.zero_()

    def forward(self, videos: Tensor) -> Tensor:
        stats = torch.cat([videos.mean(dim=(1, 3, 4)), videos.std(dim=(1, 3, 4))], dim=1)
        return torch.tanh(self.proj(stats))
