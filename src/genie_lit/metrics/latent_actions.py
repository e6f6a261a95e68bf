"""How well latent actions agree with the true actions a recorder kept (never used in training).

Genie (Bruce et al., 2024, §3 and Appendix) checks that latent actions are consistent and maps
them to real actions with a few labelled examples. Two measures, computed within each game
(action indices mean different things in different games) and averaged over transitions:

- normalised mutual information, ``NMI = I(L; A) / mean(H(L), H(A))`` (the arithmetic-mean
  normalisation that scikit-learn uses by default): 0 when the latent says nothing about the
  action, 1 when each determines the other;
- few-shot mapping accuracy: map each latent code to the most frequent true action among ``k``
  labelled transitions, then score that map on the remaining transitions; chance is predicting
  the most frequent true action of the labelled set.

:class:`LatentActionAgreement` keeps a per-game joint histogram (sum-reduced across processes)
so NMI is exact under DDP.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric


def mutual_information(joint: np.ndarray) -> tuple[float, float, float]:
    """``(I, H_rows, H_cols)`` in nats of a joint count table."""
    total = joint.sum()
    if total == 0:
        return 0.0, 0.0, 0.0
    p = joint / total
    rows, cols = p.sum(1), p.sum(0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / (rows[:, None] * cols[None, :])[nz])).sum())
    entropy = lambda q: float(-(q[q > 0] * np.log(q[q > 0])).sum())  # noqa: E731
    return mi, entropy(rows), entropy(cols)


def normalized_mutual_information(joint: np.ndarray) -> float:
    mi, h_rows, h_cols = mutual_information(joint)
    denominator = 0.5 * (h_rows + h_cols)
    return 0.0 if denominator <= 0 else max(0.0, mi / denominator)


def nmi_by_game(counts: np.ndarray) -> float:
    """Transition-weighted mean NMI over games of a ``games x latent x true`` count table."""
    totals = counts.sum(axis=(1, 2))
    if totals.sum() == 0:
        return 0.0
    scores = [normalized_mutual_information(c) for c in counts]
    return float(np.average(scores, weights=totals))


def few_shot_accuracy(latent: np.ndarray, true: np.ndarray, shots: int = 200, seed: int = 0) -> tuple[float, float]:
    """``(accuracy, chance)`` of a latent -> true action map fitted on ``shots`` random transitions."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(latent))
    fit, held = order[:shots], order[shots:]
    if len(held) == 0:
        raise ValueError(f"need more than {shots} labelled transitions, got {len(latent)}")
    majority = np.bincount(true[fit]).argmax()
    mapping = {}
    for code in np.unique(latent[fit]):
        mapping[code] = np.bincount(true[fit][latent[fit] == code]).argmax()
    predicted = np.array([mapping.get(code, majority) for code in latent[held]])
    return float((predicted == true[held]).mean()), float((true[held] == majority).mean())


class LatentActionAgreement(Metric):
    """NMI between latent and true actions, per game, from a sum-reduced joint histogram.

    ``update(latent, true, game)`` takes integer tensors ``b (t-1)``, ``b (t-1)`` and ``b``;
    transitions whose true action is negative (no sidecar) are ignored.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, num_latent: int, max_true_actions: int = 32, max_games: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_latent, self.max_true_actions, self.max_games = num_latent, max_true_actions, max_games
        self.add_state("counts", torch.zeros(max_games, num_latent, max_true_actions, dtype=torch.long),
                       dist_reduce_fx="sum")

    def update(self, latent: Tensor, true: Tensor, game: Tensor) -> None:
        game = game.reshape(-1, 1).expand_as(true).clamp(min=0)
        keep = (true >= 0) & (true < self.max_true_actions) & (game < self.max_games)
        flat = (game[keep] * self.num_latent + latent[keep]) * self.max_true_actions + true[keep]
        self.counts += torch.bincount(flat, minlength=self.counts.numel()).reshape(self.counts.shape)

    def compute(self) -> dict[str, float]:
        counts = self.counts.cpu().numpy()
        return {"nmi": nmi_by_game(counts), "transitions": int(counts.sum())}
