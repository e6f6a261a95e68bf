"""LightningModules, one per Genie component (tokenizer, latent actions, dynamics, co-training), and
the playable world (:mod:`genie_lit.models.world`)."""

from genie_lit.models.base import GenieModule, WarmupCosineLR
from genie_lit.models.checkpoints import CheckpointError, load_module
from genie_lit.models.cotraining import GenieCoTraining
from genie_lit.models.dynamics import DynamicsModel
from genie_lit.models.lam import LatentActionModel, SearchOptions
from genie_lit.models.maskgit import maskgit_sample
from genie_lit.models.tokenizer import VideoTokenizer
from genie_lit.models.world import Genie

__all__ = [
    "CheckpointError",
    "DynamicsModel",
    "Genie",
    "GenieCoTraining",
    "GenieModule",
    "LatentActionModel", "SearchOptions",
    "VideoTokenizer",
    "WarmupCosineLR",
    "load_module",
    "maskgit_sample",
]
