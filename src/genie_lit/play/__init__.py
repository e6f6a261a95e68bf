"""Playing learned Genie worlds: scripted rollouts, a browser page, and a Gymnasium environment.

- :func:`main` is ``genie-lit play`` (see ``genie-lit play --help``).
- :func:`load_prompt` reads any image or the first frames of a video as a prompt.
- :func:`load_world` builds a :class:`~genie_lit.models.Genie` with play's speed settings.
- :class:`GenieEnv` (needs the ``genie-lit[gym]`` extra).

Names are imported on first use: the rest of play works without Gymnasium, and ``genie-lit play
--help`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {"main": "cli", "PromptError": "prompt", "default_prompt": "prompt", "load_prompt": "prompt",
          "PlayError": "world", "load_world": "world", "GenieEnv": "env"}

__all__ = ["GenieEnv", "PlayError", "PromptError", "default_prompt", "load_prompt", "load_world", "main"]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"genie_lit.play.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'genie_lit.play' has no attribute {name!r}")
