"""torchmetrics Metrics for Genie's evaluation (Bruce et al., 2024, §3): video fidelity by FVD on I3D
features, controllability by ΔtPSNR. Depends on torch, torchmetrics and einops only."""

from genie_lit.metrics.delta_psnr import DeltaPSNR
from genie_lit.metrics.fvd import FrechetVideoDistance
from genie_lit.metrics.i3d import I3DFeatureExtractor, InceptionI3d, load_i3d

__all__ = ["DeltaPSNR", "FrechetVideoDistance", "I3DFeatureExtractor", "InceptionI3d", "load_i3d"]
