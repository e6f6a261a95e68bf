"""Activation checkpointing and ``torch.compile`` for any genie_lit model, from the trainer config.

The levers live on the backbones (:mod:`genie_lit.nn.acceleration`); this callback applies them to
every backbone of whatever module is being fitted (tokenizer, latent action model, dynamics or the
co-training module with its LAM and dynamics) in ``setup``: after the model is built and before
the strategy wraps it (DDP, or FSDP, whose per-block units still match the compiled blocks). So one
line in a trainer config reaches all components and no model needs an option of its own::

    trainer:
      callbacks+:   # appended to the component config's callbacks
        - class_path: genie_lit.callbacks.Acceleration
          init_args: {activation_checkpointing: true, compile: true}
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from genie_lit.nn.acceleration import compile_blocks, set_activation_checkpointing


class Acceleration(Callback):
    """Switch activation checkpointing and/or block-wise ``torch.compile`` on for the fitted model.

    Args:
        activation_checkpointing: recompute each transformer block in the backward pass instead of
            storing its activations (same gradients; less memory, ~1 extra forward of compute).
        compile: ``torch.compile`` each transformer block in place.
        compile_mode: ``torch.compile``'s ``mode`` (``None``, ``"reduce-overhead"``, ``"max-autotune"``).
        compile_backend: ``torch.compile``'s ``backend`` (``"inductor"``; ``"aot_eager"`` needs no compiler).
    """

    def __init__(self, activation_checkpointing: bool = False, compile: bool = False,
                 compile_mode: str | None = None, compile_backend: str = "inductor") -> None:
        self.activation_checkpointing = activation_checkpointing
        self.compile = compile
        self.compile_mode, self.compile_backend = compile_mode, compile_backend
        self.applied: dict[str, int] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.applied:  # fit then validate/test on the same module: already done
            return
        self.applied = {"checkpointed_backbones": 0, "compiled_blocks": 0}
        if self.activation_checkpointing:
            self.applied["checkpointed_backbones"] = set_activation_checkpointing(pl_module, True)
        if self.compile:
            kwargs: dict[str, Any] = {"backend": self.compile_backend}
            if self.compile_mode is not None:
                kwargs["mode"] = self.compile_mode
            self.applied["compiled_blocks"] = compile_blocks(pl_module, **kwargs)
