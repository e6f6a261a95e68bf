"""Pure-torch building blocks (no Lightning): patches, attention, backbones, quantisers."""

from genie_lit.nn.acceleration import (BLOCK_TYPES, block_wrap_policy, compile_blocks,
                                        set_activation_checkpointing)
from genie_lit.nn.attention import KVCache, SpacetimeAttention, SpatialAttention, TemporalAttention, time_mask
from genie_lit.nn.augment import random_shift
from genie_lit.nn.patches import grid_size, patchify, unpatchify
from genie_lit.nn.quantizer import (FiniteScalarQuantizer, QuantizerOutput, VectorQuantizer, balanced_assignment,
                                    histogram_stats, persistent_assignment)
from genie_lit.nn.transformer import SpacetimeTransformer, SpatialTransformer, STTransformer, VideoBackbone

__all__ = [
    "BLOCK_TYPES",
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
    "balanced_assignment",
    "block_wrap_policy",
    "compile_blocks",
    "grid_size",
    "patchify",
    "persistent_assignment",
    "random_shift",
    "set_activation_checkpointing",
    "time_mask",
    "unpatchify",
]
