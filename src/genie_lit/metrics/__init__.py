"""torchmetrics Metrics for Genie's evaluation (Bruce et al., 2024, §3): video fidelity by FVD on I3D
features, controllability by ΔtPSNR. Depends on torch, torchmetrics and einops only."""

from genie_lit.metrics.delta_psnr import DeltaPSNR, frame_psnr
from genie_lit.metrics.fvd import STANDARD_I3D_SIZE, FrechetVideoDistance, build_fvd
from genie_lit.metrics.i3d import I3DFeatureExtractor, InceptionI3d, load_i3d

__all__ = ["STANDARD_I3D_SIZE", "DeltaPSNR", "frame_psnr", "FrechetVideoDistance", "build_fvd", "I3DFeatureExtractor", "InceptionI3d", "load_i3d"]
