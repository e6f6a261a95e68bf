"""Latent actions against the true actions a recorder kept (never used in training).

Genie's latent actions are learned without labels (Bruce et al., 2024, §2.1); the paper checks
that they are consistent and maps them to real actions with a few labelled examples. Here, per
game (an action index means different things in different games), over *every* held-out
transition (the latent action model runs over clips that overlap by one frame, see
:func:`~genie_lit.evaluation.data.covering_clips`):

- NMI between latent codes and true actions
  (:func:`~genie_lit.metrics.latent_actions.normalized_mutual_information`), beside its chance
  level: the mean NMI of the latent codes against random permutations of the true actions (the
  same marginals, no relation; not exactly 0 on a finite sample);
- few-shot accuracy (:func:`~genie_lit.metrics.latent_actions.few_shot_accuracy`): a latent ->
  true action map fitted on ``shots`` labelled transitions (the paper's idea; 200 by default),
  scored on the others, averaged over ``seeds`` draws, beside its chance level (always predicting
  the most frequent true action of the labelled draw);
- the code-usage histogram and the joint table (codes x true actions).

Games are averaged weighted by their number of transitions.
"""

from __future__ import annotations

import numpy as np
import torch

from genie_lit.evaluation.data import Episode, covering_clips, to_video
from genie_lit.metrics.latent_actions import few_shot_accuracy, normalized_mutual_information
from genie_lit.models.lam import LatentActionModel


@torch.no_grad()
def infer_episode_actions(lam: LatentActionModel, episode: Episode, clip_length: int, batch_size: int,
                          device: torch.device) -> np.ndarray:
    """The latent action of every transition of ``episode`` (``t-1`` codes)."""
    clips = covering_clips(len(episode.frames), clip_length)
    codes = np.full(len(episode.frames) - 1, -1, dtype=np.int64)
    for first in range(0, len(clips), batch_size):
        chunk = clips[first:first + batch_size]
        video = torch.stack([to_video(episode.frames[s:s + n]) for s, n, _ in chunk]).to(device)
        inferred = lam.infer_actions(video).cpu().numpy()
        for (start, length, skip), row in zip(chunk, inferred):
            codes[start + skip:start + length - 1] = row[skip:]
    return codes


def joint_table(latent: np.ndarray, true: np.ndarray, num_latent: int, num_true: int) -> np.ndarray:
    """Counts ``num_latent x num_true`` of (latent code, true action) pairs."""
    table = np.zeros((num_latent, num_true), dtype=np.int64)
    np.add.at(table, (latent, true), 1)
    return table


def permutation_nmi(latent: np.ndarray, true: np.ndarray, num_latent: int, num_true: int,
                    permutations: int, seed: int) -> float:
    """Mean NMI of ``latent`` against shuffled ``true`` actions: NMI's chance level on this sample."""
    rng = np.random.default_rng(seed)
    scores = [normalized_mutual_information(joint_table(latent, rng.permutation(true), num_latent, num_true))
              for _ in range(permutations)]
    return float(np.mean(scores))


def few_shot(latent: np.ndarray, true: np.ndarray, shots: int, seeds: int) -> dict:
    """Mean (and std) few-shot accuracy and chance over ``seeds`` draws; ``None`` when there are
    not more than ``shots`` labelled transitions."""
    if len(latent) <= shots:
        return {"accuracy": None, "chance": None, "accuracy_std": None,
                "note": f"needs more than {shots} labelled transitions, has {len(latent)}"}
    runs = np.array([few_shot_accuracy(latent, true, shots=shots, seed=s) for s in range(seeds)])
    return {"accuracy": float(runs[:, 0].mean()), "chance": float(runs[:, 1].mean()),
            "accuracy_std": float(runs[:, 0].std())}


def game_agreement(latent: np.ndarray, true: np.ndarray, num_latent: int, shots: int, seeds: int,
                   permutations: int, seed: int) -> dict:
    """Every measure for one game's transitions (``true`` < 0: unknown, left out of NMI and few-shot)."""
    usage = np.bincount(latent, minlength=num_latent)
    known = true >= 0
    latent_k, true_k = latent[known], true[known]
    out: dict = {"transitions": int(len(latent)), "labelled": int(known.sum()), "code_usage": usage.tolist(),
                 "codes_used": int((usage > 0).sum())}
    if not known.any():
        return {**out, "nmi": None, "nmi_chance": None, "few_shot": None, "joint": None,
                "note": "no true actions (no .actions.npy sidecars)"}
    num_true = int(true_k.max()) + 1
    joint = joint_table(latent_k, true_k, num_latent, num_true)
    return {**out, "nmi": normalized_mutual_information(joint),
            "nmi_chance": permutation_nmi(latent_k, true_k, num_latent, num_true, permutations, seed),
            "few_shot": few_shot(latent_k, true_k, shots, seeds), "joint": joint.tolist()}


def weighted_mean(games: dict[str, dict], value) -> float | None:
    """Transition-weighted mean of ``value(game)`` over games where it is not ``None``."""
    pairs = [(value(g), g["labelled"]) for g in games.values() if value(g) is not None and g["labelled"]]
    if not pairs:
        return None
    values, weights = zip(*pairs)
    return float(np.average(values, weights=weights))


def latent_action_metrics(lam: LatentActionModel, episodes: list[Episode], clip_length: int, batch_size: int,
                          device: torch.device, shots: int = 200, seeds: int = 5, permutations: int = 5,
                          seed: int = 0, action_names: dict[str, list[str]] | None = None) -> dict:
    by_game: dict[str, tuple[list, list]] = {}
    for episode in episodes:
        codes = infer_episode_actions(lam, episode, clip_length, batch_size, device)
        latent, true = by_game.setdefault(episode.game, ([], []))
        latent.append(codes)
        true.append(episode.actions)
    games = {game: game_agreement(np.concatenate(latent), np.concatenate(true), lam.num_actions, shots, seeds,
                                  permutations, seed)
             for game, (latent, true) in sorted(by_game.items())}
    for game, result in games.items():
        result["action_names"] = (action_names or {}).get(game, [])
    mean = {
        "nmi": weighted_mean(games, lambda g: g["nmi"]),
        "nmi_chance": weighted_mean(games, lambda g: g["nmi_chance"]),
        "few_shot_accuracy": weighted_mean(games, lambda g: (g["few_shot"] or {}).get("accuracy")),
        "few_shot_chance": weighted_mean(games, lambda g: (g["few_shot"] or {}).get("chance")),
        "transitions": int(sum(g["transitions"] for g in games.values())),
        "labelled": int(sum(g["labelled"] for g in games.values())),
    }
    return {"num_latent_actions": lam.num_actions, "shots": shots, "seeds": seeds, "permutations": permutations,
            "clip_length": clip_length, "games": games, "mean": mean}
