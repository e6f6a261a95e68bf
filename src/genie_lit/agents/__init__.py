"""Agents from latent actions (Bruce et al., 2024, §6.1.4 "Training agents"): behaviour cloning in
the real game from expert videos that carry no actions.

1. A trained latent action model labels expert videos with latent actions.
2. :class:`BehaviourCloning` (data: :class:`ExpertClipDataModule`) learns observation -> latent action
   (``labels: recorded`` trains the oracle on the true actions of the same videos).
3. :func:`fit_game_map` (an :class:`ActionMap`) maps latent to real actions from a few labelled
   transitions (200 by default).
4. ``genie-lit agent evaluate`` plays the real Atari game with the mapped actions.

:class:`EpisodeVideoDataModule` is the ordinary clip data module whose batches also name their
episodes, for the latent action model's optional few-label supervision (``labelled_fraction``).

Names are imported on first use, so ``genie-lit agent --help`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {"main": "cli", "EpisodeVideoDataModule": "episodes", "BehaviourCloning": "policy",
          "ExpertClipDataModule": "expert_data", "fit_game_map": "action_map", "ActionMap": "action_map",
          "evaluate_agent": "evaluate"}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"genie_lit.agents.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'genie_lit.agents' has no attribute {name!r}")
