"""Validation callbacks: Genie's FVD and ΔtPSNR from world rollouts, the tokenizer's
reconstruction FVD, and rollout videos (Bruce et al., 2024, §3). ``genie-lit curves`` plots the
logged values (:mod:`genie_lit.callbacks.curves`); :mod:`genie_lit.callbacks.resume` keeps them
continuous when a killed run resumes."""

from genie_lit.callbacks.reconstruction_fvd import ReconstructionFVD
from genie_lit.callbacks.resume import ResumeCurves
from genie_lit.callbacks.rollout_metrics import RolloutMetrics
from genie_lit.callbacks.video import RolloutVideos

__all__ = ["ReconstructionFVD", "ResumeCurves", "RolloutMetrics", "RolloutVideos"]
