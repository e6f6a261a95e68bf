"""Playing learned Genie worlds (issue 6): scripted rollouts, a browser page, and a Gymnasium environment.

- :func:`main` is ``genie-lit play`` (see ``genie-lit play --help``).
- :func:`load_prompt` reads any image or the first frames of a video as a prompt.
- :func:`load_world` builds a :class:`~genie_lit.models.Genie` with play's speed settings.
- :class:`GenieEnv` (needs the ``genie-lit[gym]`` extra) is imported on first use, so the rest of
  play works without Gymnasium.
"""

from __future__ import annotations

from typing import Any

from genie_lit.play.cli import main
from genie_lit.play.prompt import PromptError, default_prompt, load_prompt
from genie_lit.play.world import PlayError, load_world

__all__ = ["GenieEnv", "PlayError", "PromptError", "default_prompt", "load_prompt", "load_world", "main"]


def __getattr__(name: str) -> Any:
    if name == "GenieEnv":
        from genie_lit.play.env import GenieEnv

        return GenieEnv
    raise AttributeError(f"module 'genie_lit.play' has no attribute {name!r}")
