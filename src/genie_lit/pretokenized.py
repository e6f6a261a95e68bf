"""``TokenDataModule``: clips of tokens for training the dynamics model on its own.

Every episode is tokenized once by a frozen tokenizer checkpoint and the tokens are cached on
disk (``<cache_dir>/<episode>.tokens.npy``, keyed by the checkpoint's size and modification time
so a new tokenizer invalidates them). Actions come from a latent action model checkpoint (the
Genie setting; cached the same way) or, for a supervised baseline, from the recorded
``.actions.npy`` sidecars.

Episodes are encoded with the same sliding temporal window the models use at play time (each
frame attends to the last ``context_frames`` frames the model was trained on), in one pass.

It needs trained models, so it sits above :mod:`genie_lit.data` (which never imports the
models) and :mod:`genie_lit.models`; the clips it serves are :class:`genie_lit.data.tokens.TokenClips`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from genie_lit.data.datamodule import VideoDataModule, clip_loader
from genie_lit.data.index import VideoEntry
from genie_lit.data.tokens import TokenClips, episode_frames
from genie_lit.models.checkpoints import CheckpointError, load_module
from genie_lit.models.lam import LatentActionModel
from genie_lit.models.tokenizer import VideoTokenizer


class TokenDataModule(L.LightningDataModule):
    """Token clips from a folder of videos, tokenized once with a frozen tokenizer.

    Args:
        data_dir: folder of video files (as for :class:`VideoDataModule`; same split by file).
        tokenizer_ckpt: trained :class:`VideoTokenizer` checkpoint.
        actions: ``"lam"`` (latent actions from ``lam_ckpt``) or ``"recorded"`` (true actions
            from the sidecars: the supervised baseline).
        lam_ckpt: trained :class:`LatentActionModel` checkpoint (for ``actions="lam"``).
        clip_length: frames per training clip.
        cache_dir: where tokens are cached (default: ``data_dir/.genie_lit_tokens``).
        fps, batch_size, num_workers, val_fraction, test_fraction, seed: as for VideoDataModule.
    """

    def __init__(
        self,
        data_dir: str,
        tokenizer_ckpt: str,
        actions: Literal["lam", "recorded"] = "lam",
        lam_ckpt: str | None = None,
        clip_length: int = 16,
        clip_stride: int | None = None,
        cache_dir: str | None = None,
        fps: float | None = None,
        batch_size: int = 8,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if actions == "lam" and lam_ckpt is None:
            raise ValueError("actions='lam' needs lam_ckpt, a trained latent action model checkpoint "
                             "(or use actions='recorded' for the supervised baseline)")
        if actions not in ("lam", "recorded"):
            raise ValueError(f"actions must be 'lam' or 'recorded', got {actions!r}")
        self.tokenizer = load_module(tokenizer_ckpt, VideoTokenizer, "tokenizer checkpoint")
        self.lam = load_module(lam_ckpt, LatentActionModel, "latent action checkpoint") if actions == "lam" else None
        if self.lam is not None and self.lam.input_type == "tokens":
            self.lam.attach_tokenizer(self.tokenizer)
        self.resolution = tuple(self.tokenizer.image_size)
        self.cache_dir = Path(cache_dir) if cache_dir else Path(data_dir) / ".genie_lit_tokens"
        self.datasets: dict[str, TokenClips] = {}
        self.num_actions = self.lam.num_actions if self.lam is not None else None

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        videos = VideoDataModule(hp.data_dir, clip_length=hp.clip_length, resolution=self.resolution, fps=hp.fps,
                                 val_fraction=hp.val_fraction, test_fraction=hp.test_fraction, seed=hp.seed)
        videos.setup(stage)
        max_recorded = 0
        for split, clips in videos.datasets.items():
            episodes = []
            for video in clips.videos:
                tokens_path, actions_path = self._cache(video, clips.step(video))
                if hp.actions == "recorded":
                    if video.actions_path is None:
                        continue  # no sidecar: the supervised baseline cannot use this episode
                    actions_path = video.actions_path
                    max_recorded = max(max_recorded, int(np.load(actions_path).max()) + 1)
                game = clips.games.index(video.game) if video.game in clips.games else -1
                episodes.append((tokens_path, actions_path, game))
            stride = hp.clip_stride or hp.clip_length if split == "train" else hp.clip_length
            self.datasets[split] = TokenClips(episodes, hp.clip_length, stride)
        if hp.actions == "recorded":
            self.num_actions = max_recorded

    def _key(self) -> str:
        paths = [self.hparams.tokenizer_ckpt] + ([self.hparams.lam_ckpt] if self.lam is not None else [])
        stamp = "|".join(f"{Path(p).resolve()}:{Path(p).stat().st_size}:{Path(p).stat().st_mtime_ns}" for p in paths)
        return hashlib.sha1(f"{stamp}|{self.hparams.fps}".encode()).hexdigest()[:12]

    def _cache(self, video: VideoEntry, step: float) -> tuple[Path, Path | None]:
        folder = self.cache_dir / self._key()
        base = folder / video.relpath
        tokens_path = base.with_name(base.name + ".tokens.npy")
        actions_path = base.with_name(base.name + ".lam_actions.npy") if self.lam is not None else None
        if tokens_path.exists() and (actions_path is None or actions_path.exists()):
            return tokens_path, actions_path
        tokens_path.parent.mkdir(parents=True, exist_ok=True)
        frames = episode_frames(video, step, self.resolution)
        tokens, actions = self._encode(frames)
        np.save(tokens_path, tokens.astype(np.uint16 if self.tokenizer.codebook_size <= 65536 else np.int32))
        if actions_path is not None:
            np.save(actions_path, actions.astype(np.int16))
        return tokens_path, actions_path

    @torch.no_grad()
    def _encode(self, frames: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        device = torch.device(self.hparams.device)
        tokenizer = self.tokenizer.to(device)
        window = int(tokenizer.context_frames) or self.hparams.clip_length
        video = frames[None].to(device)
        out = tokenizer.quantize(video, window=window)
        tokens = out.indices.reshape(video.shape[1], *tokenizer.grid).cpu().numpy()
        actions = None
        if self.lam is not None:
            lam = self.lam.to(device)
            actions = lam.infer_actions(video, window=int(lam.context_frames) or window)[0].cpu().numpy()
        return tokens, actions

    def check_dynamics(self, dynamics) -> None:
        """Refuse a dynamics model that disagrees with the tokenizer or the action source."""
        self.setup("fit")
        tokenizer = self.tokenizer
        if tokenizer.codebook_size != dynamics.vocab_size or tuple(tokenizer.grid) != tuple(dynamics.grid):
            raise CheckpointError(
                f"the tokenizer makes {tokenizer.codebook_size} codes on a {tuple(tokenizer.grid)} grid but the dynamics "
                f"model was configured with vocab_size={dynamics.vocab_size}, grid={tuple(dynamics.grid)}; set them equal")
        if self.num_actions is not None and self.num_actions > dynamics.num_actions:
            raise CheckpointError(f"the actions come in {self.num_actions} kinds ({self.hparams.actions}) but the "
                                  f"dynamics model has num_actions={dynamics.num_actions}; set them equal")

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return clip_loader(self.datasets[split], self.hparams.batch_size, self.hparams.num_workers, shuffle)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test" if len(self.datasets["test"]) else "val", False)
