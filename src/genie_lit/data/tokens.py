"""``TokenClips``: clips of cached tokens (and actions) for training the dynamics model on its own.

The tokens are made and cached by :class:`genie_lit.pretokenized.TokenDataModule`, which needs
trained models; this module only reads them, and decodes an episode's frames at a target rate
(:func:`episode_frames`) for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from genie_lit.data.index import VideoEntry
from genie_lit.media.read import read_frames

_CHUNK = 256  # frames decoded at a time when tokenizing an episode


class TokenClips(Dataset):
    """Clips of ``clip_length`` cached tokens ``t h w`` with actions ``t-1`` per item."""

    def __init__(self, episodes: list[tuple[Path, Path | None, int]], clip_length: int, stride: int) -> None:
        self.episodes = episodes  # (tokens file, actions file, game index)
        self.clip_length = clip_length
        self.clips = []
        for ei, (tokens_path, _, _) in enumerate(episodes):
            frames = np.load(tokens_path, mmap_mode="r").shape[0]
            self.clips += [(ei, s) for s in range(0, frames - clip_length + 1, stride)]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ei, start = self.clips[i]
        tokens_path, actions_path, game = self.episodes[ei]
        tokens = np.load(tokens_path, mmap_mode="r")[start:start + self.clip_length]
        actions = np.load(actions_path, mmap_mode="r")[start:start + self.clip_length - 1]
        return {"tokens": torch.from_numpy(tokens.astype(np.int64)), "actions": torch.from_numpy(
            actions.astype(np.int64)), "game": torch.tensor(game)}


def episode_frames(video: VideoEntry, step: float, resolution: tuple[int, int]) -> torch.Tensor:
    """All frames of an episode at the target rate: ``t c h w`` float in [0, 1]."""
    count = int((video.info.num_frames - 1) / step) + 1
    indices = [round(k * step) for k in range(count)]
    chunks = [read_frames(video.path, indices[i:i + _CHUNK], resolution, fps=video.info.fps)
              for i in range(0, len(indices), _CHUNK)]
    return torch.from_numpy(np.concatenate(chunks)).permute(0, 3, 1, 2).float().div_(255)
