"""``QualityDataModule``: clips and their 1-5 quality scores from a CSV of ``clip,score`` labels.

``clip`` is a video file relative to ``data_dir`` with an optional ``#start`` source frame
(``pong/ep0003.mp4#48``; the first clip of the file without it), as ``genie-lit prepare
--auto-labels`` writes; ``score`` is 1 (junk) to 5 (good). Rows are split into train and val by a
seeded hash of their file, so clips of one episode never land on both sides. Rows naming a file
that is missing, unreadable or too short are skipped and counted in one warning.
"""

from __future__ import annotations

import csv
import hashlib
import warnings
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from genie_lit.data.clips import _to_float, source_indices
from genie_lit.data.datamodule import clip_loader
from genie_lit.data.index import VideoEntry, scan_folder
from genie_lit.media.read import read_frames

LABELS_FILE = "quality_labels.csv"


def read_labels(path: str | Path) -> list[tuple[str, int, float]]:
    """``[(relative path, start frame, score)]`` from a ``clip,score`` CSV."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no quality labels at {path}; write them with `genie-lit prepare --data DIR "
                                f"--auto-labels {path}` or pass data.labels_csv")
    rows = []
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        if not reader.fieldnames or not {"clip", "score"} <= set(reader.fieldnames):
            raise ValueError(f"{path} must be a CSV with a header naming the columns clip and score")
        for line, row in enumerate(reader, start=2):
            clip, _, start = row["clip"].partition("#")
            try:
                score = float(row["score"])
                rows.append((clip, int(start or 0), score))
            except ValueError as err:
                raise ValueError(f"{path} line {line}: {err}; clip is FILE or FILE#START, score a number 1-5") from err
            if not 1 <= score <= 5:
                raise ValueError(f"{path} line {line}: score {score} is outside 1-5")
    return rows


class ScoredClips(Dataset):
    """``video`` ``t c h w`` float in [0, 1] and ``score`` (float 1-5) per labelled clip."""

    def __init__(self, rows: list[tuple[VideoEntry, int, float]], clip_length: int, resolution: tuple[int, int],
                 fps: float | None) -> None:
        self.rows, self.clip_length, self.resolution, self.fps = rows, clip_length, resolution, fps

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        video, start, score = self.rows[i]
        step = 1.0 if self.fps is None else video.info.fps / self.fps
        frames = read_frames(video.path, source_indices(start, self.clip_length, step), self.resolution,
                             fps=video.info.fps)
        return {"video": _to_float(frames), "score": torch.tensor(score, dtype=torch.float32)}


class QualityDataModule(L.LightningDataModule):
    """Labelled clips for :class:`~genie_lit.quality.QualityClassifier`.

    Args:
        data_dir: the video folder the CSV's clip paths are relative to.
        labels_csv: the ``clip,score`` CSV (default: ``data_dir/quality_labels.csv``).
        clip_length, resolution, fps: clips as the classifier sees them.
        val_fraction: share of files held out for validation.
        batch_size, num_workers, seed: loader settings and the seed of the split.
    """

    def __init__(self, data_dir: str, labels_csv: str | None = None, clip_length: int = 16,
                 resolution: int | tuple[int, int] = 64, fps: float | None = None, val_fraction: float = 0.2,
                 batch_size: int = 16, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.resolution = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
        self.datasets: dict[str, ScoredClips] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        labels = read_labels(hp.labels_csv or Path(hp.data_dir) / LABELS_FILE)
        videos = {v.relpath: v for v in scan_folder(hp.data_dir).videos}
        rows, skipped = [], []
        for clip, start, score in labels:
            video = videos.get(clip)
            step = 1.0 if video is None or hp.fps is None else video.info.fps / hp.fps
            if video is None or source_indices(start, hp.clip_length, step)[-1] >= video.info.num_frames:
                skipped.append(clip)
                continue
            rows.append((video, start, score))
        if skipped:
            warnings.warn(f"skipped {len(skipped)} of {len(labels)} labelled clip(s): the file is missing, unreadable "
                          f"or too short for a clip of {hp.clip_length} frames at the start given (e.g. "
                          f"{', '.join(skipped[:3])})", stacklevel=2)
        if not rows:
            raise ValueError(f"none of the {len(labels)} labelled clips could be read from {hp.data_dir}")

        def held_out(video: VideoEntry) -> bool:
            digest = hashlib.sha1(f"{hp.seed}:{video.relpath}".encode()).hexdigest()
            return int(digest[:8], 16) / 0xFFFFFFFF < hp.val_fraction

        train = [r for r in rows if not held_out(r[0])]
        val = [r for r in rows if held_out(r[0])] or train[-1:]
        self.datasets = {"train": ScoredClips(train, hp.clip_length, self.resolution, hp.fps),
                         "val": ScoredClips(val, hp.clip_length, self.resolution, hp.fps)}

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return clip_loader(self.datasets[split], self.hparams.batch_size, self.hparams.num_workers, shuffle,
                           drop_last=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)


__all__ = ["LABELS_FILE", "QualityDataModule", "ScoredClips", "read_labels"]
