"""Attention over video token grids ``b t n d`` through ``scaled_dot_product_attention``.

Three forms (Genie, Bruce et al., 2024, §2 and Table 3):

- :class:`SpatialAttention` — tokens of one frame attend to each other, never across frames;
- :class:`TemporalAttention` — one spatial position attends over frames, causally;
- :class:`SpacetimeAttention` — every token attends to all tokens of its own and earlier frames
  (block-causal in time; C-ViViT).

Time is encoded with rotary embeddings on the frame index, so attention scores depend only on
how many frames apart two tokens are. Temporal and spacetime attention accept a
:class:`KVCache`: keys and values of frames already generated never change (spatial attention
never crosses frames and time is causal), so a new frame only needs its own queries.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


class RotaryTime(nn.Module):
    """Rotary position embedding along time, applied to ``(..., L, head_dim)`` by frame index."""

    def __init__(self, head_dim: int, base: float = 10_000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head dimension, got {head_dim}")
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        freqs = positions.to(torch.float32)[:, None] * self.inv_freq[None, :]  # L, e/2
        cos, sin = freqs.cos().to(x.dtype), freqs.sin().to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


def time_mask(query_pos: Tensor, key_pos: Tensor, window: int | None = None) -> Tensor:
    """Boolean ``(Lq, Lk)`` mask, True where a query may attend: key frame <= query frame and,
    with a window, fewer than ``window`` frames back (the query's own frame included)."""
    diff = query_pos[:, None] - key_pos[None, :]
    allowed = diff >= 0
    if window is not None:
        allowed &= diff < window
    return allowed


@dataclass
class KVCache:
    """Keys and values of committed frames for one attention layer.

    ``positions`` holds the frame index of every cached key. With a ``window`` only the keys a
    future frame can still see are kept, so memory stays bounded however long the rollout.
    """

    window: int | None = None
    keys: Tensor | None = None
    values: Tensor | None = None
    positions: Tensor | None = None

    def with_new(self, k: Tensor, v: Tensor, pos: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if self.keys is None:
            return k, v, pos
        return (
            torch.cat((self.keys, k), dim=2),
            torch.cat((self.values, v), dim=2),
            torch.cat((self.positions, pos)),
        )

    def commit(self, k: Tensor, v: Tensor, pos: Tensor) -> None:
        keys, values, positions = self.with_new(k, v, pos)
        if self.window is not None:
            keep = positions >= positions.max() + 2 - self.window  # what the next frame can see
            keys, values, positions = keys[:, :, keep], values[:, :, keep], positions[keep]
        self.keys, self.values, self.positions = keys, values, positions

    @property
    def num_frames(self) -> int:
        return 0 if self.positions is None else int(self.positions.unique().numel())


class MultiHeadAttention(nn.Module):
    """Shared projections; subclasses decide which tokens form a sequence."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``B L D`` -> q, k, v each ``B H L E``."""
        q, k, v = rearrange(self.qkv(x), "b l (three h e) -> three b h l e", three=3, h=self.num_heads)
        return q, k, v

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False) -> Tensor:
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(rearrange(out, "b h l e -> b l (h e)"))


class SpatialAttention(MultiHeadAttention):
    """Attention among the tokens of each frame; frames never exchange information."""

    def forward(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        q, k, v = self.project(rearrange(x, "b t n d -> (b t) n d"))
        return rearrange(self.attend(q, k, v), "(b t) n d -> b t n d", b=b)


class _TimeAttention(MultiHeadAttention):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__(dim, num_heads, qkv_bias, dropout)
        self.rotary = RotaryTime(dim // num_heads)

    def _attend_in_time(
        self, seq: Tensor, pos: Tensor, cache: KVCache | None, commit: bool, window: int | None
    ) -> Tensor:
        q, k, v = self.project(seq)
        q, k = self.rotary(q, pos), self.rotary(k, pos)
        if cache is None:
            keys, values, key_pos = k, v, pos
        else:
            keys, values, key_pos = cache.with_new(k, v, pos)
            if commit:
                cache.commit(k, v, pos)
        simple_causal = cache is None and window is None and bool((pos[1:] >= pos[:-1]).all())
        if simple_causal and pos.unique().numel() == pos.numel():
            return self.attend(q, keys, values, causal=True)
        return self.attend(q, keys, values, mask=time_mask(pos, key_pos, window))


class TemporalAttention(_TimeAttention):
    """Causal attention over frames at each spatial position (one sequence per position)."""

    def forward(
        self,
        x: Tensor,
        positions: Tensor,
        cache: KVCache | None = None,
        commit: bool = False,
        window: int | None = None,
    ) -> Tensor:
        b = x.shape[0]
        seq = rearrange(x, "b t n d -> (b n) t d")
        out = self._attend_in_time(seq, positions, cache, commit, window)
        return rearrange(out, "(b n) t d -> b t n d", b=b)


class SpacetimeAttention(_TimeAttention):
    """Full attention over all tokens of the clip, block-causal in time (C-ViViT)."""

    def forward(
        self,
        x: Tensor,
        positions: Tensor,
        cache: KVCache | None = None,
        commit: bool = False,
        window: int | None = None,
    ) -> Tensor:
        t, n = x.shape[1], x.shape[2]
        token_pos = positions.repeat_interleave(n)
        out = self._attend_in_time(rearrange(x, "b t n d -> b (t n) d"), token_pos, cache, commit, window)
        return rearrange(out, "b (t n) d -> b t n d", t=t)
