"""``VideoDataModule``: clips from a folder of video files, split by file."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, DistributedSampler

from genie_lit.data.clips import ClipDataset
from genie_lit.data.index import SPLITS, ScanResult, scan_folder, split_files
from genie_lit.media.read import VIDEO_EXTENSIONS


def silence_workers_hint() -> None:
    """Lightning suggests more DataLoader workers whenever there are fewer than 2. Here data are not
    the bottleneck: one process decodes ~2,100 frames/s (benchmarks/results/data_throughput.json),
    many times what the models train on (37-75 frames/s on a CPU, train_throughput.json), and on a
    small machine each worker takes a core from training. The configs choose num_workers."""
    warnings.filterwarnings("ignore", message=r"The '\w+' does not have many workers")


class ShardedEvalSampler(DistributedSampler):
    """Deterministic evaluation sampler for many processes that neither pads nor repeats: rank r
    gets indices r, r + world, ... so every clip is counted exactly once across processes.

    It subclasses ``DistributedSampler`` so that Lightning (``use_distributed_sampler=True``)
    recognises it as already sharded and does not shard it a second time.
    """

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        super().__init__(range(length), num_replicas=world_size, rank=rank, shuffle=False, drop_last=False)
        self.indices = list(range(rank, length, world_size))
        self.num_samples = len(self.indices)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class VideoDataModule(L.LightningDataModule):
    """Clips of ``clip_length`` frames at ``resolution`` from every video under ``data_dir``.

    Files are split into train/val/test by file (manifest splits first, else a seeded hash), so
    an episode never leaks across splits. Unreadable files and files shorter than one clip are
    skipped and counted in one warning.

    Args:
        data_dir: folder searched recursively for video files.
        clip_length: frames per clip.
        resolution: output frame size, int or ``(height, width)``; must match the model.
        fps: target frame rate (frames are resampled); ``None`` keeps each file's rate.
        clip_stride: frames between clip starts in training (default: ``clip_length``, no overlap).
        batch_size, num_workers: DataLoader settings.
        val_fraction, test_fraction: shares of files held out when there is no manifest split.
        max_val_clips: evenly spaced subset of validation clips, to bound validation time.
        seed: seed of the file split.
        extensions: file extensions considered video.
        cache_index: keep the probe results in ``data_dir/.genie_lit_index.json``.
    """

    def __init__(
        self,
        data_dir: str,
        clip_length: int = 16,
        resolution: int | tuple[int, int] = 64,
        fps: float | None = None,
        clip_stride: int | None = None,
        batch_size: int = 8,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        max_val_clips: int | None = None,
        seed: int = 0,
        extensions: tuple[str, ...] = VIDEO_EXTENSIONS,
        cache_index: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.data_dir = Path(data_dir)
        self.resolution = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
        self.datasets: dict[str, ClipDataset] = {}
        self.scan: ScanResult | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        self.scan = scan_folder(self.data_dir, tuple(hp.extensions), use_cache=hp.cache_index)
        if not self.scan.videos:
            raise FileNotFoundError(
                f"no readable video in {self.data_dir} (searched recursively for {', '.join(hp.extensions)}; "
                f"{len(self.scan.skipped)} unreadable file(s) skipped). Point data.data_dir at a folder of "
                "video files, e.g. one written by `genie-lit record atari`."
            )
        games = sorted({v.game for v in self.scan.videos if v.game})
        splits = split_files(self.scan.videos, hp.val_fraction, hp.test_fraction, hp.seed)
        for name in SPLITS:
            stride = hp.clip_stride if name == "train" else None
            self.datasets[name] = ClipDataset(splits[name], hp.clip_length, self.resolution, hp.fps, stride, games)
        self._warn_skipped()
        if len(self.datasets["train"]) == 0 and stage in (None, "fit"):
            raise ValueError(
                f"the training split of {self.data_dir} has no clip of {hp.clip_length} frames "
                f"({len(splits['train'])} file(s)); record longer episodes or lower data.clip_length"
            )

    def _warn_skipped(self) -> None:
        short = [p for ds in self.datasets.values() for p in ds.too_short]
        unreadable = self.scan.skipped
        if not short and not unreadable:
            return
        total = len(self.scan.videos) + len(unreadable)
        names = ", ".join(list(unreadable)[:3] + short[:3])
        warnings.warn(
            f"skipped {len(unreadable) + len(short)} of {total} video file(s) in {self.data_dir}: "
            f"{len(unreadable)} unreadable (corrupt, truncated, empty or not video), {len(short)} shorter than "
            f"one clip of {self.hparams.clip_length} frames (e.g. {names})",
            stacklevel=2,
        )

    @property
    def games(self) -> list[str]:
        return self.datasets["train"].games if self.datasets else []

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        silence_workers_hint()
        dataset = self.datasets[split]
        sampler = None
        if split != "train":
            if self.hparams.max_val_clips is not None and len(dataset) > self.hparams.max_val_clips:
                keep = torch.linspace(0, len(dataset) - 1, self.hparams.max_val_clips).round().long().unique()
                dataset = torch.utils.data.Subset(dataset, keep.tolist())
            world = self.trainer.world_size if self.trainer is not None else 1
            if world > 1:
                sampler = ShardedEvalSampler(len(dataset), self.trainer.global_rank, world)
        return clip_loader(dataset, self.hparams.batch_size, self.hparams.num_workers, shuffle, sampler=sampler)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test" if len(self.datasets["test"]) else "val", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()


def clip_loader(dataset, batch_size: int, num_workers: int, shuffle: bool, sampler=None,
                drop_last: bool | None = None) -> DataLoader:
    """The DataLoader every clip data module uses: workers kept alive between epochs, memory pinned
    for a GPU, and (by default) the last incomplete batch dropped when shuffling a split that has a
    full one, so training batches keep their size."""
    silence_workers_hint()
    if drop_last is None:
        drop_last = shuffle and len(dataset) >= batch_size
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, num_workers=num_workers,
                      persistent_workers=num_workers > 0, drop_last=drop_last, pin_memory=torch.cuda.is_available())
