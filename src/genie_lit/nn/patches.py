"""Patch embedding helpers: frames ``b t c h w`` <-> patch tokens ``b t n (c p q)``.

Genie (Bruce et al., 2024, §2.1) tokenizes each frame into non-overlapping patches before the
ST-transformer; every backbone in :mod:`genie_lit.nn` works on ``b t n d`` token grids.
"""

from __future__ import annotations

from torch import Tensor
from einops import rearrange


def grid_size(height: int, width: int, patch_size: int) -> tuple[int, int]:
    """Number of patches along each side; raises if the frame is not divisible by the patch."""
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"frame size {height}x{width} is not divisible by patch_size={patch_size}; "
            "choose a resolution that is a multiple of the patch size"
        )
    return height // patch_size, width // patch_size


def patchify(video: Tensor, patch_size: int) -> Tensor:
    """``b t c h w`` -> ``b t (h' w') (c p q)`` with ``p = q = patch_size``."""
    grid_size(video.shape[-2], video.shape[-1], patch_size)
    return rearrange(video, "b t c (h p) (w q) -> b t (h w) (c p q)", p=patch_size, q=patch_size)


def unpatchify(tokens: Tensor, patch_size: int, height: int, width: int) -> Tensor:
    """``b t (h' w') (c p q)`` -> ``b t c h w``; the inverse of :func:`patchify`."""
    h, w = grid_size(height, width, patch_size)
    return rearrange(tokens, "b t (h w) (c p q) -> b t c (h p) (w q)", h=h, w=w, p=patch_size, q=patch_size)
