"""Speed and memory levers that act on every video backbone inside a model, whatever the model.

Genie's three components (tokenizer, latent action model, dynamics) are all stacks of the same
blocks (:mod:`genie_lit.nn.transformer`), so the levers work on blocks and backbones found by
walking ``module.modules()``; no component needs an option of its own:

- :func:`set_activation_checkpointing` recomputes each block in the backward pass instead of
  keeping its activations (the same gradients, less memory);
- :func:`compile_blocks` compiles each block in place with ``torch.compile`` (the module keeps its
  class, so an FSDP policy that matches block classes still finds it);
- :func:`block_wrap_policy` makes each block its own FSDP unit (gathered only while it runs).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from genie_lit.nn.transformer import SpacetimeBlock, SpatialBlock, STBlock, VideoBackbone

#: the block of each backbone: one FSDP unit, one checkpointed and one compiled region each
BLOCK_TYPES: tuple[type[nn.Module], ...] = (STBlock, SpatialBlock, SpacetimeBlock)


def backbones(module: nn.Module) -> list[VideoBackbone]:
    """Every :class:`VideoBackbone` inside ``module`` (itself included)."""
    return [m for m in module.modules() if isinstance(m, VideoBackbone)]


def blocks(module: nn.Module) -> list[nn.Module]:
    """Every transformer block inside ``module``, in module order."""
    return [m for m in module.modules() if isinstance(m, BLOCK_TYPES)]


def set_activation_checkpointing(module: nn.Module, enabled: bool = True) -> int:
    """Switch activation checkpointing on (or off) in every backbone of ``module``; returns how many."""
    found = backbones(module)
    for backbone in found:
        backbone.activation_checkpointing = enabled
    return len(found)


def compile_blocks(module: nn.Module, **compile_kwargs: Any) -> int:
    """``torch.compile`` every block of ``module`` in place (``nn.Module.compile``); returns how many.

    Blocks rather than the whole model: a block is the unit that FSDP wraps and checkpointing
    recomputes, every block of a backbone has the same code (one compilation serves them all), and
    the models' Python around the blocks (MaskGIT masking, the LAM's code search) stays eager."""
    found = blocks(module)
    for block in found:
        block.compile(**compile_kwargs)
    return len(found)


def block_wrap_policy():
    """The FSDP auto-wrap policy that makes each transformer block (:data:`BLOCK_TYPES`) one unit.

    Lightning's ``FSDPStrategy(auto_wrap_policy=...)`` takes it, as does torch's
    ``FullyShardedDataParallel``; ``configs/trainer/fsdp.yaml`` names the same classes."""
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    return ModuleWrapPolicy(set(BLOCK_TYPES))
