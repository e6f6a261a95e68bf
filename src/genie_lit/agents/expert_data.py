"""``ExpertClipDataModule``: (last frames, action) pairs from recorded expert episodes, for
behaviour cloning (Bruce et al., 2024, §6.1.4).

Each sample is the ``history`` frames ``x_{t-history+1}..x_t`` (the first frame repeated before an
episode's start) and the label of transition ``t -> t+1``:

- ``labels="latent"``: the latent action a trained latent action model (``lam_ckpt``) infers from
  the video; the ``.actions.npy`` sidecars are never opened;
- ``labels="recorded"``: the true action from the sidecar (the oracle).

Episodes are split as every genie_lit data module splits them (manifest splits, else a seeded hash
of the path) and held whole in memory as uint8 (64x64: 12 KB a frame).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from genie_lit.data.datamodule import clip_loader
from genie_lit.data.index import VideoEntry, scan_folder, split_files
from genie_lit.media.read import read_frames


class ExpertTransitions(Dataset):
    """``{"frames": history*3 h w float, "label": int}`` for every labelled transition of ``episodes``."""

    def __init__(self, episodes: list[np.ndarray], labels: list[np.ndarray], history: int) -> None:
        self.episodes, self.history = episodes, history
        self.items = [(e, t, int(label[t])) for e, label in enumerate(labels)
                      for t in range(len(label)) if label[t] >= 0]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        e, t, label = self.items[i]
        return {"frames": stack_history(self.episodes[e], t, self.history), "label": torch.tensor(label)}


def stack_history(frames: np.ndarray, t: int, history: int) -> torch.Tensor:
    """Frames ``t-history+1..t`` of ``frames`` (``T h w c`` uint8; the first repeated before 0) as
    one ``(history c) h w`` float tensor in [0, 1]."""
    index = np.clip(np.arange(t - history + 1, t + 1), 0, None)
    chosen = torch.from_numpy(np.ascontiguousarray(frames[index]))  # k h w c
    return chosen.permute(0, 3, 1, 2).reshape(-1, *frames.shape[1:3]).float() / 255


class ExpertClipDataModule(L.LightningDataModule):
    """Behaviour-cloning samples from the expert episodes under ``data_dir``.

    Args:
        data_dir: a recording (e.g. ``genie-lit record atari --policy expert``).
        labels: ``"latent"`` (the LAM's inferred actions; sidecars never read) or ``"recorded"`` (oracle).
        lam_ckpt: latent action model or world checkpoint (``labels="latent"``).
        history: frames the policy sees.
        resolution: frame size; must be the LAM's.
        batch_size, num_workers: DataLoader settings.
        val_fraction, seed: held-out share of episodes and seed of the split (as ``VideoDataModule``).
    """

    def __init__(self, data_dir: str, labels: Literal["latent", "recorded"] = "latent", lam_ckpt: str | None = None,
                 history: int = 4, resolution: int = 64, batch_size: int = 32, num_workers: int = 0,
                 val_fraction: float = 0.1, seed: int = 0) -> None:
        super().__init__()
        if labels not in ("latent", "recorded"):
            raise ValueError(f"labels must be 'latent' or 'recorded', got {labels!r}")
        if labels == "latent" and not lam_ckpt:
            raise ValueError("labels: latent needs a trained latent action model: set data.lam_ckpt to a LAM or world "
                             "checkpoint (or use labels: recorded for the oracle)")
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        self.save_hyperparameters()
        self.datasets: dict[str, ExpertTransitions] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        scan = scan_folder(Path(hp.data_dir))
        if not scan.videos:
            raise FileNotFoundError(f"no readable video in {hp.data_dir}; record experts first: "
                                    "genie-lit record atari --policy expert --games pong,breakout --out DIR")
        splits = split_files(scan.videos, hp.val_fraction, 0.0, hp.seed)
        labeller = None
        if hp.labels == "latent":
            from genie_lit.agents.lam_labels import lam_clip_length, load_lam

            labeller = load_lam(hp.lam_ckpt)
            if tuple(labeller.image_size) != (hp.resolution, hp.resolution):
                raise ValueError(f"the latent action model works at {tuple(labeller.image_size)} but data.resolution "
                                 f"is {hp.resolution}; set them equal")
            self.clip_length = lam_clip_length(labeller)
        for name in ("train", "val"):
            frames, labels = [], []
            for video in splits[name]:
                episode = load_episode(video, hp.resolution)
                frames.append(episode)
                labels.append(self._labels(video, episode, labeller))
            self.datasets[name] = ExpertTransitions(frames, labels, hp.history)
        if len(self.datasets["train"]) == 0 and stage in (None, "fit"):
            raise ValueError(f"no labelled transition in the training episodes of {hp.data_dir}")

    def _labels(self, video: VideoEntry, frames: np.ndarray, labeller) -> np.ndarray:
        if labeller is None:  # the oracle: true actions from the sidecar
            if video.actions_path is None:
                raise ValueError(f"labels: recorded needs action sidecars, but {video.relpath} has none")
            table = np.load(video.actions_path).astype(np.int64)
            return np.pad(table[: len(frames) - 1], (0, max(0, len(frames) - 1 - len(table))), constant_values=-1)
        from genie_lit.agents.lam_labels import infer_latent_actions

        return infer_latent_actions(labeller, frames, self.clip_length)

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return clip_loader(self.datasets[name], self.hparams.batch_size, self.hparams.num_workers, shuffle)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)


def load_episode(video: VideoEntry, resolution: int) -> np.ndarray:
    """All frames of one file, ``t h w c`` uint8 at ``resolution``."""
    return read_frames(video.path, list(range(video.info.num_frames)), (resolution, resolution), fps=video.info.fps)
