"""The latent -> real action map of an agent (Bruce et al., 2024, §6.1.4): fitted on a few labelled
transitions, per game, and stored as JSON beside the policy checkpoint.

Each latent code maps to the real action most often taken when the latent action model inferred
that code among the ``shots`` labelled transitions (200 by default, the paper's setting); a code
never seen there maps to the most frequent real action of the draw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_SHOTS = 200


@dataclass
class ActionMap:
    """Per game: ``mapping[code] -> real action`` and the ``fallback`` for unseen codes."""

    games: dict[str, dict] = field(default_factory=dict)  # game -> {"mapping": {code: action}, "fallback", "shots"}

    def __call__(self, game: str, code: int) -> int:
        if game not in self.games:
            raise KeyError(f"the action map has no entry for {game!r} (it has {', '.join(sorted(self.games))}); "
                           "refit it with --shots on episodes of that game")
        entry = self.games[game]
        return int(entry["mapping"].get(int(code), entry["fallback"]))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        data = {game: {**entry, "mapping": {str(k): v for k, v in entry["mapping"].items()}}
                for game, entry in self.games.items()}
        path.write_text(json.dumps({"format": "genie_lit.action_map/1", "games": data}, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> ActionMap:
        data = json.loads(Path(path).read_text())
        return cls({game: {**entry, "mapping": {int(k): int(v) for k, v in entry["mapping"].items()}}
                    for game, entry in data["games"].items()})


def fit_game_map(latent: np.ndarray, true: np.ndarray, shots: int = DEFAULT_SHOTS, seed: int = 0) -> dict:
    """The map of one game from ``shots`` transitions drawn (seeded) from ``(latent, true)`` pairs
    (transitions whose true action is unknown, ``-1``, are never drawn)."""
    known = np.flatnonzero(true >= 0)
    if len(known) == 0:
        raise ValueError("no labelled transition to fit the action map on (no action sidecars)")
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    drawn = np.random.default_rng(seed).permutation(known)[:shots]
    codes, actions = latent[drawn], true[drawn]
    mapping = {int(c): int(np.bincount(actions[codes == c]).argmax()) for c in np.unique(codes)}
    return {"mapping": mapping, "fallback": int(np.bincount(actions).argmax()), "shots": int(len(drawn))}


def map_path(policy_ckpt: str | Path) -> Path:
    """Where the map of ``policy_ckpt`` is stored: ``<ckpt>.action_map.json`` beside it."""
    policy_ckpt = Path(policy_ckpt)
    return policy_ckpt.with_name(policy_ckpt.name + ".action_map.json")
