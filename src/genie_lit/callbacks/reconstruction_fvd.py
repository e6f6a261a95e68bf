"""Reconstruction FVD of the video tokenizer (Bruce et al., 2024, §2.1 and Table 3, where the
tokenizer variants ST-ViViT, ViT and C-ViViT are compared by FVD).

At the end of a validation, the first validation clips are encoded and decoded by the tokenizer
being trained, and the Fréchet Video Distance between the real clips and their reconstructions
is logged as ``val/recon_fvd`` (``val/recon_fvd_random_i3d`` without I3D weights,
``val/recon_fvd_custom_i3d`` with weights that are not the published ones). The real clips' I3D
statistics are computed once per run and kept.

Clips hold ``fvd_num_frames`` (16) real frames: when the validation clips are shorter (the
configs train on 8), the callback cuts clips of 16 frames from the same validation files, so no
clip is padded by repeating its last frame. Files shorter than that fall back to the validation
clips (padded, with the I3D's warning).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Subset

from genie_lit.callbacks.base import (
    FVDLogger, RealStatistics, ValidationClipsCallback, global_count, in_lockstep, validation_dataset,
)
from genie_lit.data.clips import ClipDataset
from genie_lit.metrics import STANDARD_I3D_SIZE, build_fvd


class ReconstructionFVD(ValidationClipsCallback):
    """FVD between real validation clips and the tokenizer's reconstructions.

    Works with any module whose ``forward(video)`` returns ``(reconstruction, ...)`` like
    :class:`~genie_lit.models.VideoTokenizer`.

    Args:
        every_n_val_epochs, max_clips, batch_size: as in :class:`RolloutMetrics`.
        fvd_weights, fvd_num_frames, fvd_size: as in :class:`RolloutMetrics`; the value is logged
            as ``val/recon_fvd`` only with weights at 224x224.
    """

    def __init__(
        self,
        every_n_val_epochs: int = 1,
        max_clips: int = 16,
        fvd_weights: str | None = None,
        fvd_num_frames: int = 16,
        fvd_size: int = STANDARD_I3D_SIZE,
        batch_size: int = 8,
    ) -> None:
        super().__init__(every_n_val_epochs, max_clips, batch_size)
        self.fvd_weights, self.fvd_num_frames, self.fvd_size = fvd_weights, fvd_num_frames, fvd_size
        self.fvd = None
        self.fvd_name = ""
        self._real = RealStatistics()
        self._log_fvd = FVDLogger()
        self._long: tuple[ClipDataset, ClipDataset] | None = None  # (validation set, its 16-frame clips)

    def long_clips(self, trainer: L.Trainer) -> ClipDataset | None:
        """Clips of ``fvd_num_frames`` real frames from the validation files, when the validation
        clips are shorter and the files long enough; else None (use the validation clips)."""
        base = validation_dataset(trainer)
        if not isinstance(base, ClipDataset) or base.clip_length >= self.fvd_num_frames:
            return None
        if self._long is None or self._long[0] is not base:  # built once per validation set
            self._long = (base, ClipDataset(base.videos, self.fvd_num_frames, base.resolution, base.fps, None,
                                            base.games))
        long = self._long[1]
        return long if len(long) >= 2 else None

    def num_clips(self, trainer: L.Trainer) -> int:
        long = self.long_clips(trainer)
        if long is None:
            return super().num_clips(trainer)
        total = min(self.max_clips, len(long))
        return min(total, 2) if trainer.fast_dev_run else total

    def clip_batches(self, trainer: L.Trainer, pl_module: L.LightningModule) -> Iterator[tuple[Tensor, Tensor]]:
        long = self.long_clips(trainer)
        if long is None:
            yield from super().clip_batches(trainer, pl_module)
            return
        total, world, rank = self.num_clips(trainer), trainer.world_size, trainer.global_rank
        mine = list(range(rank, total, world))
        batches = [mine[i:i + self.batch_size] for i in range(0, len(mine), self.batch_size)]
        if in_lockstep(trainer):
            batches += [[] for _ in range(math.ceil(math.ceil(total / world) / self.batch_size) - len(batches))]
        for batch in batches:
            indices = batch or list(range(min(self.batch_size, total)))
            video = next(iter(DataLoader(Subset(long, indices), batch_size=len(indices))))["video"]
            yield (torch.tensor(batch) if batch else torch.full((len(indices),), -1)), video.to(pl_module.device)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.fvd is None:
            self.fvd, name = build_fvd(self.fvd_weights, self.fvd_size, self.fvd_num_frames)
            self.fvd_name = f"val/recon_{name}"
        self.fvd.to(pl_module.device)

    def run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        add_real = self._real.needs_update(trainer, self.fvd, self.num_clips(trainer))
        local = 0
        for indices, real in self.clip_batches(trainer, pl_module):
            reconstruction = pl_module(real)[0].clamp(0, 1)
            keep = indices >= 0
            if not keep.any():
                continue
            self.fvd.update(reconstruction[keep], real=False)
            if add_real:
                self.fvd.update(real[keep], real=True)
            local += int(keep.sum())
        self._log_fvd(pl_module, self.fvd, self.fvd_name, global_count(trainer, pl_module, local))
