"""``genie-lit evaluate``: a trained world on held-out episodes (Bruce et al., 2024, §3).

Tokenizer reconstruction, next-frame prediction, ΔtPSNR and FVD of rollouts, latent actions
against the recorded true actions, and action consistency, each beside its chance level or
baseline; written as ``eval.json`` and ``eval.md``. :func:`evaluate_world` is the Python API,
:func:`genie_lit.evaluation.cli.main` the command. Names are imported on first use, so the
command's ``--help`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {"main": "cli", "EvaluationError": "data", "write_report": "report", "evaluate_world": "runner"}

__all__ = ["EvaluationError", "evaluate_world", "main", "write_report"]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"genie_lit.evaluation.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'genie_lit.evaluation' has no attribute {name!r}")
