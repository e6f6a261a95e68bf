"""What the validation callbacks share: when to run, which clips, and how to reach the weights.

Genie's two curves (Bruce et al., 2024, §3 "Metrics": FVD for video fidelity, ΔtPSNR for
controllability) need generated video, so they are measured by callbacks that roll the world out
at the end of a validation rather than inside ``validation_step``.

**Which clips.** A callback takes the first ``max_clips`` clips of the validation dataset (in
dataset order) and splits them across processes by global index: rank ``r`` of ``W`` takes clips
``r, r + W, r + 2W, ...``. The shares are disjoint and cover exactly those clips whatever ``W``,
so the synced metrics count every clip once (no padding, no repeats) and the real clips are the
same at every validation. The callback reads them from the dataset itself, not from the batches
of the validation loop, so it does not depend on the loop's sampler or on ``limit_val_batches``.
Each clip's random numbers are seeded by its global index, so with ``batch_size=1`` the values do
not depend on the number of processes.

**Weights under FSDP.** Outside the training step FSDP holds each process's shard of the
parameters only, so the rollouts run inside ``FullyShardedDataParallel.summon_full_params``; and
because a wrapped submodule may communicate in its forward, every process then runs the same
number of batches (a process with fewer clips runs padding batches whose results are dropped).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor
from torch.utils.data import DataLoader, Subset

from genie_lit.metrics import FrechetVideoDistance


class ValidationClipsCallback(Callback):
    """Base class: runs :meth:`run` at the end of every ``every_n_val_epochs``-th validation (not
    during the sanity check) on this process's share of the first ``max_clips`` validation clips.

    Args:
        every_n_val_epochs: run at the N-th, 2N-th, ... validation (with ``val_check_interval`` a
            validation is one run of the validation loop, not a data epoch).
        max_clips: clips used per validation, summed over all processes (2 at most in a
            ``fast_dev_run``).
        batch_size: clips processed together on one process.
    """

    def __init__(self, every_n_val_epochs: int = 1, max_clips: int = 16, batch_size: int = 8) -> None:
        if every_n_val_epochs < 1 or max_clips < 1 or batch_size < 1:
            raise ValueError(f"every_n_val_epochs, max_clips and batch_size must be >= 1; got "
                             f"{every_n_val_epochs}, {max_clips}, {batch_size}")
        self.every_n_val_epochs, self.max_clips, self.batch_size = every_n_val_epochs, max_clips, batch_size
        self.validations = 0

    @property
    def state_key(self) -> str:
        return self._generate_state_key(every_n_val_epochs=self.every_n_val_epochs, max_clips=self.max_clips)

    def state_dict(self) -> dict[str, Any]:
        return {"validations": self.validations}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.validations = int(state_dict.get("validations", 0))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.validations += 1
        if self.validations % self.every_n_val_epochs == 0:
            with gathered_parameters(trainer):
                self.run(trainer, pl_module)

    def run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------ clips
    def num_clips(self, trainer: L.Trainer) -> int:
        """Clips used per validation over all processes: ``min(max_clips, len(val set))``, and at
        most 2 in a ``fast_dev_run`` (enough to run every code path, FVD included)."""
        total = min(self.max_clips, len(validation_dataset(trainer)))
        return min(total, 2) if trainer.fast_dev_run else total

    def clip_batches(self, trainer: L.Trainer, pl_module: L.LightningModule) -> Iterator[tuple[Tensor, Tensor]]:
        """This process's share of the first :meth:`num_clips` clips, as ``(global indices b,
        video b t c h w)`` batches on the module's device. Under FSDP every process yields the same
        number of batches: the missing ones are padding, with indices -1, to be dropped."""
        total, world, rank = self.num_clips(trainer), trainer.world_size, trainer.global_rank
        mine = list(range(rank, total, world))
        batches = [mine[i:i + self.batch_size] for i in range(0, len(mine), self.batch_size)]
        if in_lockstep(trainer):
            most = math.ceil(math.ceil(total / world) / self.batch_size)
            batches += [[] for _ in range(most - len(batches))]
        for batch in batches:
            if batch:
                yield torch.tensor(batch), load_clips(trainer, pl_module, batch)
            else:
                padding = list(range(min(self.batch_size, total)))
                yield torch.full((len(padding),), -1), load_clips(trainer, pl_module, padding)


def _first(loaders: Any) -> Any:
    if isinstance(loaders, (list, tuple)):
        return loaders[0] if loaders else None
    if isinstance(loaders, dict):
        return next(iter(loaders.values()), None)
    return loaders


def load_clips(trainer: L.Trainer, pl_module: L.LightningModule, indices: list[int]) -> Tensor:
    """Validation clips ``b t c h w`` by global index, collated like the validation loader's
    batches (clips under the ``"video"`` key, as genie_lit's datamodules give them), on the
    module's device."""
    collate = getattr(_first(trainer.val_dataloaders), "collate_fn", None)
    loader = DataLoader(Subset(validation_dataset(trainer), indices), batch_size=len(indices), collate_fn=collate)
    return next(iter(loader))["video"].to(pl_module.device)


def validation_dataset(trainer: L.Trainer) -> Any:
    """The (first) validation dataset; it must be map-style (``len`` and indexing)."""
    loader = _first(trainer.val_dataloaders)
    if loader is None and trainer.datamodule is not None:
        loader = _first(trainer.datamodule.val_dataloader())
    dataset = getattr(loader, "dataset", None)
    if dataset is None or not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise TypeError("the validation callbacks read clips by index: the validation DataLoader needs a map-style "
                        f"dataset (with __len__ and __getitem__), got {type(dataset).__name__}")
    return dataset


def in_lockstep(trainer: L.Trainer) -> bool:
    """True under FSDP, where processes must run the same number of forward passes."""
    from lightning.pytorch.strategies import FSDPStrategy

    return isinstance(trainer.strategy, FSDPStrategy) and trainer.world_size > 1


@contextlib.contextmanager
def gathered_parameters(trainer: L.Trainer) -> Iterator[None]:
    """Full (unsharded, read-only) parameters on every process under FSDP; nothing otherwise."""
    from torch.distributed.fsdp import FullyShardedDataParallel

    model = getattr(trainer.strategy, "model", None)
    if isinstance(model, FullyShardedDataParallel):
        with FullyShardedDataParallel.summon_full_params(model, writeback=False):
            yield
    else:
        yield


def global_count(trainer: L.Trainer, pl_module: L.LightningModule, local: int) -> int:
    """Sum of ``local`` over processes (a collective: every process must call it)."""
    total = trainer.strategy.reduce(torch.tensor(float(local), device=pl_module.device), reduce_op="sum")
    return int(round(float(total)))


# ---------------------------------------------------------------------------------- FVD
class RealStatistics:
    """Remembers which real clips an FVD already holds, so they are encoded once per run."""

    def __init__(self) -> None:
        self.key: tuple | None = None

    def needs_update(self, trainer: L.Trainer, fvd: FrechetVideoDistance, num_clips: int) -> bool:
        """True when the real clips differ from those encoded (first run, another dataset); then
        the real statistics are cleared and the caller must encode the real clips again."""
        dataset = validation_dataset(trainer)
        key = (id(dataset), len(dataset), num_clips, trainer.world_size)
        if key == self.key:
            return False
        fvd.reset_real_features = True
        fvd.reset()
        fvd.reset_real_features = False
        self.key = key
        return True


class FVDLogger:
    """Computes and logs an FVD on every process, skipping it (one warning) below 2 clips."""

    def __init__(self) -> None:
        self.warned = False

    def __call__(self, pl_module: L.LightningModule, fvd: FrechetVideoDistance, name: str, clips: int) -> None:
        if clips < 2:
            if not self.warned:
                warnings.warn(f"{name} needs at least 2 clips per validation, got {clips}: not logged "
                              "(raise max_clips or the number of validation clips)", stacklevel=2)
                self.warned = True
        else:
            log_synced(pl_module, {name: fvd.compute()})
        fvd.reset()


def log_synced(pl_module: L.LightningModule, values: dict[str, Tensor | float]) -> None:
    """Log values that are already equal on every process (torchmetrics synced them in compute()).

    ``sync_dist`` with ``max`` leaves them unchanged exactly and keeps Lightning from warning that
    an epoch-level value was not synced; it costs one scalar all-reduce per value."""
    pl_module.log_dict({k: float(v) for k, v in values.items()}, sync_dist=True, reduce_fx="max")
