"""Clip datasets and LightningDataModules over folders of video (read with :mod:`genie_lit.media`);
the game recorder; streamed shards. Nothing here imports :mod:`genie_lit.models`. Names are imported on first use,
so ``genie-lit record --help`` does not load torch or Lightning."""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {"ClipDataset": "clips", "ShardedEvalSampler": "datamodule", "VideoDataModule": "datamodule",
          "ScanResult": "index", "VideoEntry": "index", "scan_folder": "index", "split_files": "index",
          "StreamingVideoDataModule": "streaming", "StreamingTokenDataModule": "streaming",
          "prepare_shards": "shards"}

__all__ = ["ClipDataset", "ScanResult", "ShardedEvalSampler", "StreamingTokenDataModule", "StreamingVideoDataModule",
           "VideoDataModule", "VideoEntry", "prepare_shards", "scan_folder", "split_files"]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"genie_lit.data.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'genie_lit.data' has no attribute {name!r}")
