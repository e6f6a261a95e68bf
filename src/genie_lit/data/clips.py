"""Fixed-length clips from indexed video files, at a target frame rate and resolution.

Each item is a dict:

- ``video``: ``t c h w`` float32 in [0, 1] (RGB, whatever the file's pixel format);
- ``actions``: ``t-1`` int64 true actions from the ``.actions.npy`` sidecar, ``-1`` when the file
  has none (training never uses them; they exist to evaluate latent actions);
- ``game``: int64 index of the episode's game in ``ClipDataset.games`` (``-1`` if unknown).

When the target rate differs from the file's, clip frame ``k`` is source frame
``start + round(k * src_fps / fps)`` and its action is the action taken at that source frame.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import Dataset

from genie_lit.data.index import VideoEntry
from genie_lit.media.read import VideoReadError, read_frames


def source_indices(start: int, clip_length: int, step: float) -> list[int]:
    return [start + round(k * step) for k in range(clip_length)]


def clip_starts(num_frames: int, clip_length: int, step: float, stride: int) -> list[int]:
    """Start frames of every clip that fits in ``num_frames`` source frames."""
    span = round((clip_length - 1) * step) + 1
    return list(range(0, num_frames - span + 1, max(1, round(stride * step))))


class ClipDataset(Dataset):
    """Clips of ``clip_length`` frames from ``videos``.

    Args:
        videos: indexed, readable files.
        clip_length: frames per clip.
        resolution: ``(height, width)`` of returned frames.
        fps: target frame rate; ``None`` keeps each file's own rate.
        stride: frames (at the target rate) between consecutive clip starts.
        games: names giving the ``game`` index; defaults to the sorted games of ``videos``.
    """

    def __init__(self, videos: list[VideoEntry], clip_length: int, resolution: tuple[int, int],
                 fps: float | None = None, stride: int | None = None, games: list[str] | None = None) -> None:
        self.videos, self.clip_length, self.resolution, self.fps = videos, clip_length, resolution, fps
        self.games = games if games is not None else sorted({v.game for v in videos if v.game})
        self.clips: list[tuple[int, int]] = []
        self.too_short: list[str] = []
        for vi, video in enumerate(videos):
            starts = clip_starts(video.info.num_frames, clip_length, self.step(video), stride or clip_length)
            if not starts:
                self.too_short.append(video.relpath)
            self.clips += [(vi, s) for s in starts]
        self.failed_reads = 0

    def step(self, video: VideoEntry) -> float:
        return 1.0 if self.fps is None else video.info.fps / self.fps

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        for attempt in range(min(8, len(self.clips))):  # a file that breaks mid-way: take the next clip
            try:
                return self._load(*self.clips[(i + attempt) % len(self.clips)])
            except VideoReadError as err:
                self.failed_reads += 1
                warnings.warn(f"skipping an unreadable clip ({err}); {self.failed_reads} so far", stacklevel=2)
        raise VideoReadError(f"8 consecutive clips from index {i} could not be read")

    def _load(self, vi: int, start: int) -> dict[str, torch.Tensor]:
        video = self.videos[vi]
        indices = source_indices(start, self.clip_length, self.step(video))
        frames = read_frames(video.path, indices, self.resolution, fps=video.info.fps)
        item = {
            "video": _to_float(frames),
            "actions": self._actions(video, indices),
            "game": torch.tensor(self.games.index(video.game) if video.game in self.games else -1),
        }
        return item

    def _actions(self, video: VideoEntry, indices: list[int]) -> torch.Tensor:
        actions = torch.full((self.clip_length - 1,), -1, dtype=torch.long)
        if video.actions_path is not None:
            table = np.load(video.actions_path, mmap_mode="r")
            for k, src in enumerate(indices[:-1]):
                if src < len(table):
                    actions[k] = int(table[src])
        return actions


def _to_float(frames: np.ndarray) -> torch.Tensor:
    """``t h w c`` uint8 -> ``t c h w`` float32 in [0, 1], contiguous. In numpy: the same strided
    copy in torch runs on its intra-op threads, ~100x slower when the CPU is shared."""
    return torch.from_numpy(rearrange(frames, "t h w c -> t c h w").astype(np.float32, order="C") / np.float32(255))
