"""The data-quality filter of Genie (§3 "Data"): automatic bootstrap labels
(:mod:`~genie_lit.quality.bootstrap`), a classifier trained on ``clip,score`` labels
(:class:`QualityClassifier`, :class:`QualityDataModule`) and the scores ``genie-lit prepare
--quality-ckpt`` filters with. Names are imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {"QualityClassifier": "model", "QualityDataModule": "datamodule", "read_labels": "datamodule",
          "auto_label": "bootstrap", "write_labels": "bootstrap"}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"genie_lit.quality.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'genie_lit.quality' has no attribute {name!r}")
