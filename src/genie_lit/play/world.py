"""Building a playable :class:`~genie_lit.models.Genie` world with play's speed settings.

Settings and the measured reasons for their defaults (``Genie.step`` frames/s on the shared 2-core
CPU, load average ~4 from other work, medians of 3 interleaved runs; the quickstart-size world is
configs/tokenizer/st_vivit.yaml + configs/genie/cotrain.yaml, 64x64, context 8; the tiny world is
the tests' checkpoint):

=====================  ===========  ===========  ===========  ===========
MaskGIT steps          1            2            4            8
quickstart, 1 thread   41.9         27.9         13.5         10.2
quickstart, 2 threads  2.0          3.0          0.8          0.6
tiny, 1 thread         155.8        117.6        68.6         47.6
=====================  ===========  ===========  ===========  ===========

- ``maskgit_steps`` (default :data:`~genie_lit.models.maskgit.MASKGIT_STEPS`, the value the
  world, ``genie-lit evaluate`` and the validation callbacks share): each step is one dynamics
  pass over the new frame's tokens, the decoder pass is paid once per frame. On this CPU 4 steps
  are the most that keep the quickstart world above 10 frames/s (the paper's data rate), so a key
  press is answered before the next frame is due: ``--maskgit-steps 4`` for interactive play on a
  small CPU. 8 fell to 6-11 frames/s across runs. The paper decodes with 25 steps at about 1 frame/s.
- ``temperature`` (default :data:`~genie_lit.models.maskgit.MASKGIT_TEMPERATURE`, the sampling
  distribution the model was trained for): no effect on speed.
- ``dtype`` (default float32): ``bfloat16`` autocast measured no faster on this CPU (quickstart
  12.1 vs 13.5 frames/s); it is meant for GPUs (not measured here: no GPU was available).
- ``compile`` (default off): ``torch.compile`` of the dynamics backbone and the tokenizer decoder,
  applied here in the play layer with dynamic shapes (the KV cache grows until the context is
  full). On this CPU it compiled in ~60 s and then ran 12-16 vs 12.3-12.6 frames/s: not worth
  the wait for play. A compiler failure is reported as a :class:`PlayError`.
- ``threads`` (CLI default 1): 2 threads were 5-20x *slower* whenever another process held a
  core, because per-frame tensors are small and threads wait on each other.
- The exact KV cache matters most: without it (``use_cache=False``) the quickstart world ran
  3.4 frames/s at 4 steps, 4x slower.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from genie_lit.commands import CommandError, resolve_device
from genie_lit.models.checkpoints import CheckpointError
from genie_lit.models.maskgit import MASKGIT_STEPS, MASKGIT_TEMPERATURE
from genie_lit.models.world import Genie

DTYPES = {"float32": None, "bfloat16": torch.bfloat16}


class PlayError(CommandError):
    """A play setting that cannot be honoured (device, dtype, compile)."""


def load_world(ckpt: str, device: str = "cpu", dtype: str = "float32", maskgit_steps: int = MASKGIT_STEPS,
               temperature: float = MASKGIT_TEMPERATURE, compile: bool = False, threads: int | None = None,
               **kwargs: Any) -> Genie:
    """A world from a co-training checkpoint with the given speed settings.

    ``threads`` calls ``torch.set_num_threads`` (process-wide) when given; ``None`` leaves it alone
    (the CLI passes :data:`genie_lit.play.cli.DEFAULT_THREADS`).

    Raises :class:`~genie_lit.models.checkpoints.CheckpointError` for a checkpoint of the wrong kind
    and :class:`PlayError` (or, for the device, :class:`~genie_lit.commands.CommandError`) for
    settings that cannot be honoured.
    """
    if dtype not in DTYPES:
        raise PlayError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    if maskgit_steps < 1:
        raise PlayError(f"maskgit_steps must be at least 1, got {maskgit_steps}")
    if temperature < 0:
        raise PlayError(f"temperature must be >= 0, got {temperature}")
    if threads is not None:
        if threads < 1:
            raise PlayError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    target = resolve_device(device)
    if DTYPES[dtype] is not None and target.type == "cpu":
        warnings.warn("bfloat16 on a CPU runs, but was measured no faster than float32 there; it is meant "
                      "for GPUs", stacklevel=2)
    world = Genie.from_checkpoint(str(ckpt), map_location=target, maskgit_steps=maskgit_steps,
                                  temperature=temperature, dtype=DTYPES[dtype], **kwargs)
    if compile:
        compile_world(world)
    return world


def compile_world(world: Genie) -> Genie:
    """``torch.compile`` the per-frame hot paths (dynamics backbone, tokenizer decoder) in place.

    Compilation happens lazily at the first call; this runs one throw-away reset and step so that a
    compiler failure (no C++ compiler, an unsupported op) surfaces here as a :class:`PlayError`
    instead of in the middle of play.
    """
    for module in (world.dynamics.backbone, world.tokenizer.decoder):
        module.compile(dynamic=True)
    probe = torch.zeros(3, *world.image_size)
    try:
        world.reset(probe, seed=0)
        world.step(0)
        world.step(0)
    except Exception as err:  # noqa: BLE001 - any compiler error: report and let the user play uncompiled
        raise PlayError(f"torch.compile failed on this machine ({type(err).__name__}: {str(err)[:300]}); "
                        "play without --compile") from err
    world._state = None  # the probe episode is not the user's
    return world


def describe(world: Genie) -> dict[str, Any]:
    """The settings a world plays with (shown by the CLI and the page, stored with a rollout)."""
    return {"num_actions": world.num_actions, "image_size": list(world.image_size),
            "context_length": world.context_length, "maskgit_steps": world.maskgit_steps,
            "temperature": world.temperature, "dtype": str(world.dtype or torch.float32).replace("torch.", ""),
            "device": str(world.device), "threads": torch.get_num_threads()}


__all__ = ["CheckpointError", "PlayError", "load_world", "compile_world", "describe", "resolve_device", "DTYPES"]
