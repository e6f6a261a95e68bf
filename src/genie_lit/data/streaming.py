"""``StreamingVideoDataModule`` and ``StreamingTokenDataModule``: clips streamed from shards.

The shards are those ``genie-lit prepare`` writes (:mod:`genie_lit.data.shards`), read with
litdata's ``StreamingDataset`` from a local folder or an object-store URL (``s3://``, ``gs://``,
``azure://``; remote chunks are downloaded to ``cache_dir`` as they are needed).

- **Seeded and deterministic**: the training order is a function of ``seed`` and the epoch only.
- **Sharded across ranks**: under DDP each process reads its own part of every epoch; the parts
  are disjoint. So that every process runs the same number of steps, litdata drops the few
  training clips left over after an even split (at most ``world_size`` x ``batch_size`` - 1 an
  epoch); validation and test keep every clip.
- **Resumable mid-epoch**: the training loader is a ``StreamingDataLoader`` whose position
  Lightning stores in the checkpoint; ``--ckpt_path`` resumes the epoch where it stopped,
  without repeating or skipping a clip.

Items are the video data module's (``video``, ``actions``, ``game``) plus ``index``, the clip's
position in its split; the token variant serves ``tokens`` (and ``actions``) like
:class:`~genie_lit.pretokenized.TokenDataModule`, for training the dynamics model on its own.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
try:
    from litdata import StreamingDataLoader, StreamingDataset
except ImportError as err:  # the optional [shards] extra
    raise ModuleNotFoundError("streamed shards need litdata: pip install 'genie-lit[shards]'") from err

from genie_lit.data.clips import _to_float
from genie_lit.data.datamodule import silence_workers_hint
from genie_lit.data.shards import read_meta
from genie_lit.media.memory import decode_clip


class ShardClips(StreamingDataset):
    """Video clips from one split of shards: ``video`` ``t c h w`` float in [0, 1], ``actions``,
    ``game`` and ``index``."""

    def __getitem__(self, index) -> dict[str, torch.Tensor]:
        item = super().__getitem__(index)
        return {"video": _to_float(decode_clip(item["video"])), **_common(item, item["actions"])}


class ShardTokenClips(StreamingDataset):
    """Token clips from one split of shards: ``tokens`` ``t h w`` int64, ``actions`` (recorded or
    latent), ``game`` and ``index``."""

    def __init__(self, *args, actions: str = "recorded", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.actions = actions

    def __getitem__(self, index) -> dict[str, torch.Tensor]:
        item = super().__getitem__(index)
        actions = item["lam_actions"] if self.actions == "lam" else item["actions"]
        return {"tokens": torch.from_numpy(np.asarray(item["tokens"]).astype(np.int64)), **_common(item, actions)}


def _common(item: dict, actions) -> dict[str, torch.Tensor]:
    return {"actions": torch.from_numpy(np.asarray(actions).astype(np.int64)),
            "game": torch.tensor(int(item["game"])), "index": torch.tensor(int(item["index"]))}


class StreamingVideoDataModule(L.LightningDataModule):
    """Clips streamed from shards written by ``genie-lit prepare``.

    Args:
        shards_dir: the ``--out`` folder of ``genie-lit prepare``, local or an object-store URL
            (``s3://bucket/shards``); it holds ``train/``, ``val/`` and ``test/``.
        batch_size, num_workers: DataLoader settings.
        seed: seed of the training order (also its shuffle across chunks).
        shuffle: shuffle the training split each epoch.
        cache_dir: where chunks of a remote dataset are kept (default: litdata's cache folder).
        max_cache_size: disk the cache of a remote dataset may use, e.g. ``"50GB"`` (default: litdata's).
    """

    dataset_class = ShardClips

    def __init__(self, shards_dir: str, batch_size: int = 8, num_workers: int = 0, seed: int = 0,
                 shuffle: bool = True, cache_dir: str | None = None, max_cache_size: str | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.meta = read_meta(shards_dir)
        self.games: list[str] = self.meta.get("games", [])
        if self.meta:
            self.resolution = tuple(self.meta["resolution"])
            self.hparams["clip_length"] = self.clip_length = self.meta["clip_length"]  # what models read
        elif "://" not in shards_dir and not Path(shards_dir).is_dir():
            raise FileNotFoundError(f"shards folder {shards_dir} does not exist; write it with "
                                    "`genie-lit prepare --data VIDEO_DIR --out SHARDS` and pass that folder")

    def _split_dir(self, split: str) -> str | None:
        root = self.hparams.shards_dir.rstrip("/")
        if self.meta and not self.meta["report"]["clips"].get(split):
            return None  # prepare wrote no clip for this split
        return f"{root}/{split}"

    def _dataset(self, split: str, shuffle: bool) -> StreamingDataset:
        kwargs = {"drop_last": None if split == "train" else False}  # None: litdata drops the remainder under DDP
        for name in ("cache_dir", "max_cache_size"):
            if self.hparams[name] is not None:
                kwargs[name] = self.hparams[name]
        return self.dataset_class(self._split_dir(split), shuffle=shuffle, seed=self.hparams.seed, **kwargs,
                                  **self._dataset_kwargs())

    def _dataset_kwargs(self) -> dict:
        return {}

    def _loader(self, split: str, shuffle: bool) -> StreamingDataLoader:
        if self._split_dir(split) is None:
            if split == "train":
                raise ValueError(f"{self.hparams.shards_dir} holds no training clip; prepare it from a folder with "
                                 "episodes longer than one clip")
            return []
        silence_workers_hint()
        # litdata gives each worker its own part, so the dataset's length is right with any number of workers
        warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined")
        # built here, not in setup: litdata reads the process group (rank, world size) when a dataset is made
        return StreamingDataLoader(self._dataset(split, shuffle), batch_size=self.hparams.batch_size,
                                   num_workers=self.hparams.num_workers, pin_memory=torch.cuda.is_available(),
                                   persistent_workers=self.hparams.num_workers > 0)

    def train_dataloader(self) -> StreamingDataLoader:
        return self._loader("train", self.hparams.shuffle)

    def val_dataloader(self) -> StreamingDataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> StreamingDataLoader:
        return self._loader("test" if self._split_dir("test") is not None else "val", False)


class StreamingTokenDataModule(StreamingVideoDataModule):
    """Token clips streamed from shards prepared with ``--tokenizer-ckpt`` (and ``--lam-ckpt`` for
    ``actions="lam"``): batches as :class:`~genie_lit.pretokenized.TokenDataModule` serves them.

    Args:
        actions: ``"lam"`` (latent actions stored at prepare time) or ``"recorded"`` (the sidecars').
        others: as for :class:`StreamingVideoDataModule`.
    """

    dataset_class = ShardTokenClips

    def __init__(self, shards_dir: str, actions: Literal["lam", "recorded"] = "lam", batch_size: int = 8,
                 num_workers: int = 0, seed: int = 0, shuffle: bool = True, cache_dir: str | None = None,
                 max_cache_size: str | None = None) -> None:
        super().__init__(shards_dir, batch_size, num_workers, seed, shuffle, cache_dir, max_cache_size)
        self.save_hyperparameters()
        needed = "lam_actions" if actions == "lam" else "tokens"
        items = self.meta.get("items")
        if items is not None and ("tokens" not in items or needed not in items):
            raise ValueError(f"{shards_dir} holds no {needed}: prepare it with --tokenizer-ckpt"
                             f"{' and --lam-ckpt' if actions == 'lam' else ''}, or use actions='recorded'")

    def _dataset_kwargs(self) -> dict:
        return {"actions": self.hparams.actions}

    def check_dynamics(self, dynamics) -> None:
        """Refuse a dynamics model that disagrees with the stored tokens or actions (as TokenDataModule does)."""
        tokenizer = self.meta.get("tokenizer")
        if tokenizer and (tokenizer["codebook_size"] != dynamics.vocab_size
                          or tuple(tokenizer["grid"]) != tuple(dynamics.grid)):
            raise ValueError(f"the shards hold {tokenizer['codebook_size']} codes on a {tuple(tokenizer['grid'])} grid "
                             f"but the dynamics model was configured with vocab_size={dynamics.vocab_size}, "
                             f"grid={tuple(dynamics.grid)}; set them equal")
        kinds = self.meta.get("lam_num_actions") if self.hparams.actions == "lam" else None
        if kinds is not None and kinds > dynamics.num_actions:
            raise ValueError(f"the shards' latent actions come in {kinds} kinds but the dynamics model has "
                             f"num_actions={dynamics.num_actions}; set them equal")


__all__ = ["ShardClips", "ShardTokenClips", "StreamingTokenDataModule", "StreamingVideoDataModule"]
