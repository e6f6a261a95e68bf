"""Reconstruction FVD of the video tokenizer (Bruce et al., 2024, §2.1 and Table 3, where the
tokenizer variants ST-ViViT, ViT and C-ViViT are compared by FVD).

At the end of a validation, the first validation clips are encoded and decoded by the tokenizer
being trained, and the Fréchet Video Distance between the real clips and their reconstructions
is logged as ``val/recon_fvd`` (``val/recon_fvd_random_i3d`` without I3D weights). The real
clips' I3D statistics are computed once per run and kept.
"""

from __future__ import annotations

import lightning as L

from genie_lit.callbacks.base import FVDLogger, RealStatistics, ValidationClipsCallback, global_count
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
