"""Training-time augmentation of clips (LAOM, Nikulin et al., ICML 2025, trains its latent action
model on augmented observations)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_shift(video: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Translate each clip of ``video`` (``b t c h w``) by its own random offset of up to
    ``max_shift`` pixels in each direction, the same offset for every frame of a clip (edges
    replicated), so the motion between frames is unchanged. ``max_shift`` 0 returns ``video``."""
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    if max_shift == 0:
        return video
    b, t, c, h, w = video.shape
    padded = F.pad(video.reshape(b, t * c, h, w), (max_shift,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=generator).tolist()
    shifted = [padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets)]
    return torch.stack(shifted).reshape(b, t, c, h, w)
