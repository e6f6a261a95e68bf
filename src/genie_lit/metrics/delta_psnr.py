"""ΔtPSNR, Genie's controllability metric (Bruce et al., 2024, "Genie: Generative Interactive
Environments", §3, "Metrics").

``ΔtPSNR = PSNR(x_t, x̂_t) − PSNR(x_t, x̂'_t)``: ``x_t`` is the t-th ground-truth frame, ``x̂_t`` the
frame generated from the prompt with the latent actions the LAM infers from the ground-truth clip,
``x̂'_t`` the frame generated with actions drawn uniformly at random. The larger it is, the more the
latent actions control what is generated. Frames are 1-indexed with ``x_1`` the prompt; the paper
uses t = 4.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

_MIN_NORMALISED_MSE = 1e-10  # caps PSNR at 100 dB, so one exact frame cannot make the average infinite


def frame_psnr(target: Tensor, preds: Tensor, data_range: float = 1.0) -> Tensor:
    """PSNR of each frame, ``... c h w`` -> ``...`` (e.g. ``b c h w`` -> ``b``, ``b T c h w`` ->
    ``b T``), in float64; capped at 100 dB."""
    mse = (target.double() - preds.double()).square().flatten(-3).mean(dim=-1)
    return -10.0 * torch.log10((mse / data_range**2).clamp_min(_MIN_NORMALISED_MSE))


class DeltaPSNR(Metric):
    """ΔtPSNR with the two PSNRs it is made of.

    Args:
        t: 1-indexed frame compared (frame 1 is the prompt, so t >= 2; ``t = 4`` compares index 3).
        data_range: value range of the frames (1.0 for [0, 1]).
        kwargs: passed to :class:`torchmetrics.Metric`.

    ``update(real, generated_inferred, generated_random)`` takes three ``b T c h w`` tensors of the
    same shape with ``T >= t``. PSNR is computed per clip (over the ``c h w`` values of frame t) and
    averaged over clips, as one would report "the PSNR of a rollout"; this is not the PSNR of the MSE
    pooled over clips (averaging in dB weights every clip equally, whatever its error). ``compute()``
    returns ``{"delta_psnr", "psnr_inferred", "psnr_random"}`` (float64 scalars, dB); the first is the
    difference of the other two. States are sums and a count, reduced by sum across processes.
    """

    higher_is_better = True
    is_differentiable = False
    full_state_update = False

    psnr_inferred_sum: Tensor
    psnr_random_sum: Tensor
    num_clips: Tensor

    def __init__(self, t: int = 4, data_range: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(t, int) or t < 2:
            raise ValueError(f"`t` is a 1-indexed frame after the prompt frame x_1, so t >= 2; got {t!r}.")
        if data_range <= 0:
            raise ValueError(f"`data_range` must be positive, got {data_range}.")
        self.t, self.data_range = t, float(data_range)
        self.add_state("psnr_inferred_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("psnr_random_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("num_clips", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, real: Tensor, generated_inferred: Tensor, generated_random: Tensor) -> None:
        """Add clips ``b T c h w``: ground truth, rolled out with inferred actions, with random actions."""
        shapes = {name: tuple(x.shape) for name, x in
                  (("real", real), ("generated_inferred", generated_inferred), ("generated_random", generated_random))}
        if len(set(shapes.values())) != 1 or real.dim() != 5:
            raise ValueError(f"DeltaPSNR expects three 'b T c h w' tensors of the same shape, got {shapes}.")
        if real.shape[1] < self.t:
            raise ValueError(f"DeltaPSNR with t={self.t} needs clips of at least {self.t} frames, "
                             f"got T={real.shape[1]}.")
        i = self.t - 1
        target = real[:, i]
        self.psnr_inferred_sum += frame_psnr(target, generated_inferred[:, i], self.data_range).sum()
        self.psnr_random_sum += frame_psnr(target, generated_random[:, i], self.data_range).sum()
        self.num_clips += real.shape[0]

    def compute(self) -> dict[str, Tensor]:
        if int(self.num_clips) == 0:
            raise RuntimeError("DeltaPSNR.compute() called before any clip was given to update().")
        psnr_inferred = self.psnr_inferred_sum / self.num_clips
        psnr_random = self.psnr_random_sum / self.num_clips
        return {"delta_psnr": psnr_inferred - psnr_random, "psnr_inferred": psnr_inferred,
                "psnr_random": psnr_random}
