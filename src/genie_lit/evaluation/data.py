"""Held-out episodes for ``genie-lit evaluate``: which files, their frames, their true actions.

The split is the one training used, so evaluation never sees a training episode: a recorder
``manifest.json`` names each episode's split; otherwise files are split by the seeded hash of
:func:`~genie_lit.data.split_files` with the fractions and seed of the checkpoint's datamodule
(``datamodule_hyper_parameters``, saved by Lightning), or the datamodule's defaults.

Episodes are read whole (``t h w c`` uint8 at the model's resolution and the training frame
rate) with the action of every transition from the ``.actions.npy`` sidecar (``-1`` where there
is none). Two ways of cutting them into clips:

- :func:`sample_clips`: non-overlapping clips of ``clip_length`` frames, an evenly spaced subset
  of at most ``max_clips`` (tokenizer, next-frame and rollout metrics);
- :func:`covering_clips`: clips that overlap by one frame so that every transition of an episode
  is scored exactly once, each with the in-clip history the latent action model had in training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from torch import Tensor

from genie_lit.data.clips import source_indices
from genie_lit.data.index import MANIFEST_FILE, SPLITS, VideoEntry, scan_folder, split_files
from genie_lit.media.read import VIDEO_EXTENSIONS, VideoReadError, read_frames

UNKNOWN_GAME = "(no game)"
SPLIT_DEFAULTS = {"val_fraction": 0.1, "test_fraction": 0.0, "seed": 0}  # VideoDataModule's defaults


class EvaluationError(ValueError):
    """Input that ``genie-lit evaluate`` cannot work with (reported with exit code 2)."""


@dataclass
class Episode:
    relpath: str
    game: str
    frames: np.ndarray  # t h w c uint8
    actions: np.ndarray  # (t-1,) int64 true actions, -1 where unknown


@dataclass
class HeldOut:
    split: str
    episodes: list[Episode]
    split_source: str  # how the split was decided, for the report
    action_names: dict[str, list[str]] = field(default_factory=dict)  # per game, from the manifest
    skipped: list[str] = field(default_factory=list)

    @property
    def games(self) -> list[str]:
        return sorted({e.game for e in self.episodes})


def load_held_out(data_dir: str | Path, split: str | None, resolution: tuple[int, int], fps: float | None,
                  split_settings: dict | None = None) -> HeldOut:
    """The episodes of ``split`` (default: ``test`` when there are test episodes, else ``val``)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise EvaluationError(f"data folder {root} does not exist; pass --data a folder of videos "
                              "(e.g. one written by `genie-lit record atari`)")
    settings = {**SPLIT_DEFAULTS, **(split_settings or {})}
    extensions = tuple(settings.get("extensions") or VIDEO_EXTENSIONS)
    scan = scan_folder(root, extensions)
    if not scan.videos:
        raise EvaluationError(f"no readable video in {root} (searched recursively for {', '.join(extensions)}; "
                              f"{len(scan.skipped)} unreadable file(s)); pass --data a folder of video files")
    splits = split_files(scan.videos, settings["val_fraction"], settings["test_fraction"], settings["seed"])
    if split is None:
        split = "test" if splits["test"] else "val"
    if split not in SPLITS:
        raise EvaluationError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if not splits[split]:
        raise EvaluationError(f"the {split} split of {root} has no episode ({len(scan.videos)} video(s) in total); "
                              "record held-out episodes (`genie-lit record atari --val-episodes N --test-episodes N`) "
                              "or choose another --split")
    manifest = any(v.split for v in scan.videos)
    source = ("manifest.json" if manifest else
              f"hash of the file path (val_fraction={settings['val_fraction']}, "
              f"test_fraction={settings['test_fraction']}, seed={settings['seed']})")
    held = HeldOut(split, [], source, _action_names(root))
    for entry in splits[split]:
        try:
            held.episodes.append(read_episode(entry, resolution, fps))
        except VideoReadError as err:
            held.skipped.append(f"{entry.relpath}: {err}")
    held.episodes = [e for e in held.episodes if len(e.frames) >= 2]
    if not held.episodes:
        raise EvaluationError(f"no episode of the {split} split of {root} could be read with 2 frames or more")
    return held


def read_episode(entry: VideoEntry, resolution: tuple[int, int], fps: float | None) -> Episode:
    """A whole episode at ``resolution`` and ``fps`` (``None``: the file's rate) with its true actions."""
    step = 1.0 if fps is None else entry.info.fps / fps
    count = int((entry.info.num_frames - 1) / step) + 1 if entry.info.num_frames else 0
    indices = [i for i in source_indices(0, count, step) if i < entry.info.num_frames]
    frames = read_frames(entry.path, indices, resolution, fps=entry.info.fps)
    actions = np.full(max(0, len(indices) - 1), -1, dtype=np.int64)
    if entry.actions_path is not None:
        table = np.load(entry.actions_path)
        for k, src in enumerate(indices[:-1]):
            if src < len(table):
                actions[k] = int(table[src])
    return Episode(entry.relpath, entry.game or UNKNOWN_GAME, frames, actions)


def _action_names(root: Path) -> dict[str, list[str]]:
    try:
        games = json.loads((root / MANIFEST_FILE).read_text()).get("games", {})
        return {game: list(info.get("action_names", [])) for game, info in games.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def to_video(frames: np.ndarray) -> Tensor:
    """``t h w c`` uint8 -> ``t c h w`` float in [0, 1]."""
    return torch.from_numpy(rearrange(frames, "t h w c -> t c h w").astype(np.float32) / np.float32(255))


def sample_clips(episodes: list[Episode], clip_length: int, max_clips: int) -> list[tuple[int, int]]:
    """``(episode, start)`` of non-overlapping clips, at most ``max_clips`` evenly spaced over all."""
    clips = [(i, s) for i, e in enumerate(episodes) for s in range(0, len(e.frames) - clip_length + 1, clip_length)]
    if len(clips) > max_clips:
        keep = np.unique(np.linspace(0, len(clips) - 1, max_clips).round().astype(int))
        clips = [clips[k] for k in keep]
    return clips


def scene_partners(episodes: list[Episode], clips: list[tuple[int, int]]) -> dict[int, int]:
    """For each clip of ``clips`` (``(episode, start)``), the place of another clip of the same game
    showing another scene: from another episode when the game has one, else the clip of the same
    episode farthest away in time. A game with a single clip gets no partner."""
    out = {}
    for i, (episode, start) in enumerate(clips):
        game = episodes[episode].game
        others = [j for j, (e, _) in enumerate(clips) if j != i and episodes[e].game == game]
        if others:
            out[i] = max(others, key=lambda j: (clips[j][0] != episode, abs(clips[j][1] - start), -j))
    return out


def clip_batches(episodes: list[Episode], clips: list[tuple[int, int]], clip_length: int,
                 batch_size: int) -> list[tuple[Tensor, Tensor]]:
    """``(indices b, video b t c h w)`` batches of ``clips``; indices are places in ``clips``."""
    out = []
    for first in range(0, len(clips), batch_size):
        chunk = clips[first:first + batch_size]
        video = torch.stack([to_video(episodes[e].frames[s:s + clip_length]) for e, s in chunk])
        out.append((torch.arange(first, first + len(chunk)), video))
    return out


def covering_clips(num_frames: int, clip_length: int) -> list[tuple[int, int, int]]:
    """``(start, length, skip)`` clips covering every transition of ``num_frames`` frames once:
    consecutive clips share one frame; the last clip ends at the last frame and its first ``skip``
    transitions were already scored by the clip before."""
    length = min(clip_length, num_frames)
    if length < 2:
        return []
    out, start, covered = [], 0, 0  # covered: transitions 0..covered-1 scored
    while start + length <= num_frames:
        out.append((start, length, 0))
        covered = start + length - 1
        start += length - 1
    if covered < num_frames - 1:
        last = num_frames - length
        out.append((last, length, covered - last))
    return out
