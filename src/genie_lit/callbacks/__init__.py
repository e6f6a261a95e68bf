"""Lightning callbacks only: Genie's FVD and ΔtPSNR from world rollouts, the tokenizer's
reconstruction FVD, rollout videos (Bruce et al., 2024, §3), and :class:`ResumeCurves`, which keeps the
curves of :mod:`genie_lit.loggers`' resumable loggers continuous when a killed run resumes. The rollouts
themselves are :mod:`genie_lit.models.world`'s; ``genie-lit curves`` (:mod:`genie_lit.curves`)
plots the logged values. :class:`Acceleration` switches activation checkpointing and
``torch.compile`` on for any model from a trainer config."""

from genie_lit.callbacks.acceleration import Acceleration
from genie_lit.callbacks.reconstruction_fvd import ReconstructionFVD
from genie_lit.callbacks.resume import ResumeCurves
from genie_lit.callbacks.rollout_metrics import RolloutMetrics
from genie_lit.callbacks.video import RolloutVideos

__all__ = ["Acceleration", "ReconstructionFVD", "ResumeCurves", "RolloutMetrics", "RolloutVideos"]
