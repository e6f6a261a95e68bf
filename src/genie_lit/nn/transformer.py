"""Video transformer backbones over token grids ``b t n d``.

- :class:`STTransformer` — Genie's spatiotemporal transformer (Bruce et al., 2024, §2, Fig. 4):
  each block is spatial attention, then causal temporal attention, then a feed-forward layer.
  Cost grows linearly with the number of frames.
- :class:`SpatialTransformer` — ViT applied frame by frame, no temporal mixing (Table 3, "ViT").
- :class:`SpacetimeTransformer` — full spacetime attention, causal in time (Table 3, "C-ViViT");
  cost grows quadratically with the number of frames.

All three share one constructor signature, so a YAML file swaps them by ``class_path`` alone, and
one call signature: ``forward(x, positions=None, cache=None, commit=False, window=None)``.
``cache`` (from :meth:`VideoBackbone.new_cache`) makes generation incremental: pass only the new
frame(s) with their frame ``positions``; ``commit=True`` stores their keys/values for later frames.

``activation_checkpointing=True`` keeps only each block's input during training and recomputes the
block in the backward pass (less memory, about one more forward pass of compute); it is skipped at
play time (with a cache or without gradients). :mod:`genie_lit.nn.acceleration` switches it, and
``torch.compile``, on every backbone of a model at once.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from genie_lit.nn.attention import KVCache, SpacetimeAttention, SpatialAttention, TemporalAttention


class FeedForward(nn.Sequential):
    def __init__(self, dim: int, mlp_ratio: float, dropout: float) -> None:
        hidden = int(dim * mlp_ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim), nn.Dropout(dropout))


class STBlock(nn.Module):
    """Spatial attention -> causal temporal attention -> feed-forward (pre-norm residuals)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, dropout: float, qkv_bias: bool) -> None:
        super().__init__()
        self.norm_s, self.norm_t, self.norm_f = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.spatial = SpatialAttention(dim, num_heads, qkv_bias, dropout)
        self.temporal = TemporalAttention(dim, num_heads, qkv_bias, dropout)
        self.ffw = FeedForward(dim, mlp_ratio, dropout)

    def forward(self, x: Tensor, positions: Tensor, cache: KVCache | None, commit: bool, window: int | None) -> Tensor:
        x = x + self.spatial(self.norm_s(x))
        x = x + self.temporal(self.norm_t(x), positions, cache, commit, window)
        return x + self.ffw(self.norm_f(x))


class SpatialBlock(nn.Module):
    """Per-frame ViT block; ignores time, positions and cache."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, dropout: float, qkv_bias: bool) -> None:
        super().__init__()
        self.norm_s, self.norm_f = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.spatial = SpatialAttention(dim, num_heads, qkv_bias, dropout)
        self.ffw = FeedForward(dim, mlp_ratio, dropout)

    def forward(self, x: Tensor, positions: Tensor, cache: KVCache | None, commit: bool, window: int | None) -> Tensor:
        x = x + self.spatial(self.norm_s(x))
        return x + self.ffw(self.norm_f(x))


class SpacetimeBlock(nn.Module):
    """Full spacetime attention (block-causal in time) -> feed-forward."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, dropout: float, qkv_bias: bool) -> None:
        super().__init__()
        self.norm_a, self.norm_f = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = SpacetimeAttention(dim, num_heads, qkv_bias, dropout)
        self.ffw = FeedForward(dim, mlp_ratio, dropout)

    def forward(self, x: Tensor, positions: Tensor, cache: KVCache | None, commit: bool, window: int | None) -> Tensor:
        x = x + self.attention(self.norm_a(x), positions, cache, commit, window)
        return x + self.ffw(self.norm_f(x))


class VideoBackbone(nn.Module):
    """A stack of blocks with a final LayerNorm. Subclasses choose the block type."""

    block_type: type[nn.Module]

    def __init__(
        self,
        dim: int = 128,
        depth: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        qkv_bias: bool = True,
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.dim, self.depth = dim, depth
        self.activation_checkpointing = activation_checkpointing
        self.blocks = nn.ModuleList(
            self.block_type(dim, num_heads, mlp_ratio, dropout, qkv_bias) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.apply(_init_weights)

    def new_cache(self, window: int | None = None) -> list[KVCache]:
        """An empty per-layer cache; ``window`` bounds how many frames a query can see."""
        return [KVCache(window=window) for _ in self.blocks]

    def forward(
        self,
        x: Tensor,
        positions: Tensor | None = None,
        cache: list[KVCache] | None = None,
        commit: bool = False,
        window: int | None = None,
    ) -> Tensor:
        """``x``: ``b t n d`` -> ``b t n d``. ``positions``: frame index of each of the t frames."""
        if positions is None:
            positions = torch.arange(x.shape[1], device=x.device)
        recompute = self.activation_checkpointing and cache is None and torch.is_grad_enabled()
        for i, block in enumerate(self.blocks):
            if recompute:
                x = checkpoint(block, x, positions, None, commit, window, use_reentrant=False)
            else:
                x = block(x, positions, None if cache is None else cache[i], commit, window)
        return self.norm(x)


class STTransformer(VideoBackbone):
    """Genie's ST-transformer: spatial, then causal temporal attention, then feed-forward."""

    block_type = STBlock


class SpatialTransformer(VideoBackbone):
    """ViT over each frame independently: no information crosses frames."""

    block_type = SpatialBlock


class SpacetimeTransformer(VideoBackbone):
    """C-ViViT style full spacetime attention, causal in time (quadratic in frames)."""

    block_type = SpacetimeBlock


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
