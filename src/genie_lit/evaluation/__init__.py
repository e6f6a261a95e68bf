"""``genie-lit evaluate``: a trained world on held-out episodes (Bruce et al., 2024, §3).

Tokenizer reconstruction, next-frame prediction, ΔtPSNR and FVD of rollouts, latent actions
against the recorded true actions, and action consistency, each beside its chance level or
baseline; written as ``eval.json`` and ``eval.md``. :func:`evaluate_world` is the Python API,
:func:`main` the command (``genie_lit.evaluate:main``).
"""

from genie_lit.evaluation.cli import main
from genie_lit.evaluation.data import EvaluationError
from genie_lit.evaluation.report import write_report
from genie_lit.evaluation.runner import evaluate_world

__all__ = ["EvaluationError", "evaluate_world", "main", "write_report"]
