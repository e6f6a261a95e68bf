"""What every genie_lit LightningModule shares: injected optimiser/scheduler and size checks."""

from __future__ import annotations

import math

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch.optim.lr_scheduler import LambdaLR


def as_hw(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``64`` -> ``(64, 64)``; ``(90, 160)`` stays ``(height, width)``."""
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def default_optimizer(params) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=3e-4, betas=(0.9, 0.99), weight_decay=0.01)


class WarmupCosineLR(LambdaLR):
    """Linear warm-up for ``warmup_steps``, then cosine decay to ``min_ratio`` at ``total_steps``
    (``None``: the trainer's ``max_steps``, so a run's length is set in one place)."""

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_steps: int = 200, total_steps: int | None = 10_000,
                 min_ratio: float = 0.1) -> None:
        self.warmup_steps, self.total_steps, self.min_ratio = warmup_steps, total_steps, min_ratio
        super().__init__(optimizer, self.factor)

    def factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        total = self.total_steps if self.total_steps is not None else self.warmup_steps + 1
        progress = min(1.0, (step - self.warmup_steps) / max(1, total - self.warmup_steps))
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class GenieModule(L.LightningModule):
    """Base class: builds the injected optimiser over trainable parameters (no weight decay on
    norms, biases and embeddings) and the optional scheduler, stepped every optimisation step."""

    def __init__(self, optimizer: OptimizerCallable = default_optimizer,
                 scheduler: LRSchedulerCallable | None = None) -> None:
        super().__init__()
        self._optimizer_fn = optimizer
        self._scheduler_fn = scheduler
        # frames per training clip, saved with the weights: play uses it as the temporal context
        self.register_buffer("context_frames", torch.zeros((), dtype=torch.long))

    def param_groups(self) -> list[dict]:
        decay, no_decay = [], []
        for name, param in self.named_parameters():
            if not param.requires_grad:
                continue
            plain = param.ndim < 2 or "embed" in name or "pos" in name or "codebook" in name
            (no_decay if plain else decay).append(param)
        return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]

    def configure_optimizers(self):
        optimizer = self._optimizer_fn(self.param_groups())
        if self._scheduler_fn is None:
            return optimizer
        scheduler = self._scheduler_fn(optimizer)
        if getattr(scheduler, "total_steps", 0) is None:
            max_steps = self.trainer.max_steps if self._trainer is not None else -1
            if max_steps is None or max_steps < 1:
                raise ValueError("the scheduler's total_steps is null (follow trainer.max_steps) but trainer.max_steps "
                                 "is not set; set trainer.max_steps or the scheduler's total_steps")
            scheduler.total_steps = int(max_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def remember_clip_length(self) -> None:
        """Store the datamodule's clip length in ``context_frames`` (at the start of fitting)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        length = getattr(getattr(datamodule, "hparams", {}), "get", lambda *_: None)("clip_length")
        if length:
            for module in self.modules():
                if isinstance(module, GenieModule):
                    module.context_frames.fill_(int(length))

    def check_data_resolution(self, expected: tuple[int, int]) -> None:
        """Refuse a datamodule whose frames do not have the model's resolution, before training."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        resolution = getattr(datamodule, "resolution", None)
        if resolution is not None and as_hw(resolution) != expected:
            raise ValueError(
                f"the data gives frames of {as_hw(resolution)} (data.resolution) but the model expects "
                f"{expected} (model image_size); set both to the same value"
            )
