"""A trained latent action model as a labeller: load it from a LAM or co-training checkpoint and
infer the latent action of every transition of whole episodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genie_lit.evaluation.data import Episode
from genie_lit.evaluation.latent_actions import infer_episode_actions
from genie_lit.models import LatentActionModel
from genie_lit.models.checkpoints import checkpoint_class, freeze, read_checkpoint, build_from_checkpoint
from genie_lit.models.cotraining import GenieCoTraining


def load_lam(path: str | Path, device: str | torch.device = "cpu") -> LatentActionModel:
    """The frozen latent action model of a LAM checkpoint (``configs/lam``) or a world checkpoint
    (``configs/genie/cotrain.yaml``)."""
    checkpoint = read_checkpoint(path, "latent action model checkpoint")
    cls = checkpoint_class(checkpoint)
    if cls is not None and issubclass(cls, GenieCoTraining):
        from genie_lit.models.world import Genie

        return freeze(Genie.from_checkpoint(str(path)).lam).to(device)
    lam = build_from_checkpoint(checkpoint, LatentActionModel, path, "latent action model checkpoint")
    return freeze(lam).to(device)


def infer_latent_actions(lam: LatentActionModel, frames: np.ndarray, clip_length: int = 8,
                         batch_size: int = 16) -> np.ndarray:
    """Latent action codes ``(t-1,)`` of an episode's frames ``t h w c`` uint8 (clips of the LAM's
    training length, overlapping by one frame, so each transition has its in-clip history)."""
    episode = Episode("", "", frames, np.full(len(frames) - 1, -1, dtype=np.int64))
    device = next(lam.parameters()).device
    return infer_episode_actions(lam, episode, clip_length, batch_size, device)


def lam_clip_length(lam: LatentActionModel, default: int = 8) -> int:
    """The clip length the LAM was trained on (remembered at fit start), else ``default``."""
    length = int(lam.context_frames)
    return length if length >= 2 else default
