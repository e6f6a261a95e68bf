"""``genie-lit evaluate``: the entry point named in ``genie_lit.cli`` (``genie_lit.evaluate:main``).

The implementation lives in :mod:`genie_lit.evaluation`; this module keeps the entry stable.
"""

from genie_lit.evaluation import EvaluationError, evaluate_world, main, write_report

__all__ = ["EvaluationError", "evaluate_world", "main", "write_report"]
