"""Pure-torch building blocks (no Lightning): patches, attention, backbones, quantisers."""

from genie_lit.nn.attention import KVCache, SpacetimeAttention, SpatialAttention, TemporalAttention, time_mask
from genie_lit.nn.patches import grid_size, patchify, unpatchify
from genie_lit.nn.quantizer import FiniteScalarQuantizer, QuantizerOutput, VectorQuantizer, histogram_stats
from genie_lit.nn.transformer import SpacetimeTransformer, SpatialTransformer, STTransformer, VideoBackbone

__all__ = [
    "FiniteScalarQuantizer",
    "KVCache",
    "QuantizerOutput",
    "STTransformer",
    "SpacetimeAttention",
    "SpacetimeTransformer",
    "SpatialAttention",
    "SpatialTransformer",
    "TemporalAttention",
    "VectorQuantizer",
    "VideoBackbone",
    "grid_size",
    "patchify",
    "time_mask",
    "unpatchify",
]
