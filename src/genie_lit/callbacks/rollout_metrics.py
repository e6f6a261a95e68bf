"""FVD and ΔtPSNR of a Genie world during training (Bruce et al., 2024, §3 "Metrics").

At the end of a validation the world is built from the module's live tokenizer, latent action
model and dynamics model (no copies, nothing frozen: validation already runs in eval mode without
gradients) and prompted with the first frame ``x_1`` of real validation clips. It is rolled out
``T - 1`` frames twice: with the latent actions the LAM infers from the real clip (``x̂``) and
with actions drawn uniformly at random (``x̂'``). Then

- ``ΔtPSNR = PSNR(x_t, x̂_t) − PSNR(x_t, x̂'_t)`` (controllability; the paper uses t = 4),
- FVD between the real clips and the rollouts with inferred actions (video fidelity).

Both rollouts of a clip use the same MaskGIT random numbers, so they differ by their actions only
(common random numbers: less noise in ΔtPSNR). Random actions and sampling are seeded from
``seed`` and the clip's index in the validation set, so a validation is reproducible.
"""

from __future__ import annotations

import lightning as L

from genie_lit.callbacks.base import FVDLogger, RealStatistics, ValidationClipsCallback, global_count, log_synced
from genie_lit.metrics import STANDARD_I3D_SIZE, DeltaPSNR, build_fvd
from genie_lit.models.maskgit import MASKGIT_STEPS, MASKGIT_TEMPERATURE
from genie_lit.models.world import build_world, require_world_parts, rollout_pair


class RolloutMetrics(ValidationClipsCallback):
    """Logs ``val/delta_psnr``, ``val/psnr_inferred``, ``val/psnr_random``, the FVD and
    ``val/rollout_clips`` (clips counted, over all processes) for a :class:`GenieCoTraining` module.

    Args:
        every_n_val_epochs: measure at every N-th validation.
        max_clips: validation clips used, over all processes (the first ones of the set; see
            :mod:`genie_lit.callbacks.base` for how they are shared out without double counting).
        t: frame compared by ΔtPSNR, 1-based with ``x_1`` the prompt (paper: 4); clips need
            ``t`` frames or more.
        maskgit_steps, temperature: MaskGIT decoding of each generated frame.
        fvd: also compute FVD (the I3D costs ~0.6 s per clip at 224x224 on 2 CPU cores).
        fvd_weights: local I3D weights file (see :class:`~genie_lit.metrics.I3DFeatureExtractor`).
            Without it the I3D is random and the value is logged as ``val/fvd_random_i3d``; only
            with weights (and ``fvd_size`` 224) is it ``val/fvd``.
        fvd_num_frames: frames per clip given to I3D (16 standard; shorter clips are padded by
            repeating their last frame, which is not standard either).
        fvd_size: I3D input side. 224 is standard; any other size is logged with a ``_{size}px``
            suffix and is only good for comparing runs with each other (or for tests).
        batch_size: clips rolled out together on one process. With ``batch_size=1`` every clip has
            its own MaskGIT generator, so the values do not depend on the number of processes.
        seed: seed of the random actions and of MaskGIT sampling: the batch that starts with clip
            ``i`` (index in the validation set) samples with ``seed * 1_000_003 + i``, and clip ``i``'s
            random actions come from :func:`~genie_lit.models.world.random_actions` with ``seed + 1``.
    """

    def __init__(
        self,
        every_n_val_epochs: int = 1,
        max_clips: int = 16,
        t: int = 4,
        maskgit_steps: int = MASKGIT_STEPS,
        temperature: float = MASKGIT_TEMPERATURE,
        fvd: bool = True,
        fvd_weights: str | None = None,
        fvd_num_frames: int = 16,
        fvd_size: int = STANDARD_I3D_SIZE,
        batch_size: int = 8,
        seed: int = 0,
    ) -> None:
        super().__init__(every_n_val_epochs, max_clips, batch_size)
        self.t, self.maskgit_steps, self.temperature, self.seed = t, maskgit_steps, temperature, seed
        self.use_fvd, self.fvd_weights, self.fvd_num_frames, self.fvd_size = fvd, fvd_weights, fvd_num_frames, fvd_size
        self.delta_psnr = DeltaPSNR(t=t)  # validates t
        self.fvd = None
        self.fvd_name = ""
        self._real = RealStatistics()
        self._log_fvd = FVDLogger()

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        require_world_parts(pl_module, type(self).__name__)
        if self.use_fvd and self.fvd is None:
            self.fvd, self.fvd_name = build_fvd(self.fvd_weights, self.fvd_size, self.fvd_num_frames)
            self.fvd_name = f"val/{self.fvd_name}"
        self.delta_psnr.to(pl_module.device)
        if self.fvd is not None:
            self.fvd.to(pl_module.device)

    def run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        world = build_world(pl_module, self.maskgit_steps, self.temperature)
        num_clips = self.num_clips(trainer)
        add_real = self.fvd is not None and self._real.needs_update(trainer, self.fvd, num_clips)
        local = 0
        for indices, real in self.clip_batches(trainer, pl_module):
            if real.shape[1] < self.t:
                raise ValueError(f"ΔtPSNR at t={self.t} needs clips of at least {self.t} frames; the validation clips "
                                 f"have {real.shape[1]} (raise data.clip_length or lower the callback's t)")
            inferred, randomised = rollout_pair(world, real, indices, self.seed)
            keep = indices >= 0  # padding batches (FSDP lockstep) are dropped here
            if not keep.any():
                continue
            self.delta_psnr.update(real[keep], inferred[keep], randomised[keep])
            if self.fvd is not None:
                self.fvd.update(inferred[keep], real=False)
                if add_real:
                    self.fvd.update(real[keep], real=True)
            local += int(keep.sum())
        clips = global_count(trainer, pl_module, local)  # every process calls every collective below
        if clips > 0:
            log_synced(pl_module, {f"val/{k}": v for k, v in self.delta_psnr.compute().items()})
        log_synced(pl_module, {"val/rollout_clips": clips})
        self.delta_psnr.reset()
        if self.fvd is not None:
            self._log_fvd(pl_module, self.fvd, self.fvd_name, clips)
