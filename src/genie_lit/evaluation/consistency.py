"""Action consistency: does one latent action move the scene the same way from different prompts?

Genie shows it qualitatively (Bruce et al., 2024, Fig. 7 and 9: the same action held from several
prompts). The measurable proxy used here, with no optical flow:

1. For each held-out prompt frame ``p`` of a game and each latent action ``a``, the world is reset
   on ``p`` and stepped once with ``a``, giving ``x̂(p, a)``. All actions from one prompt share
   the MaskGIT random numbers (one seed), so the frames differ by the action only.
2. The *effect* of ``a`` at ``p`` is ``E(p, a) = x̂(p, a) − mean_a' x̂(p, a')`` (channel mean,
   signed): what this action does differently from the average action. What no action controls
   (a ball, an enemy) is the same in every ``x̂(p, ·)`` and cancels.
3. Its *displacement* ``m(p, a)`` (pixels, ``(dx, dy)``, x right and y down) is the centroid of
   the positive part of ``E`` minus the centroid of its negative part: a bright sprite moved right
   by the action appears (``E > 0``) to the right of where it left (``E < 0``). A dark sprite on
   a bright background flips the sign, but the same way for every prompt of a game. When either
   part has no mass (the action changes nothing) ``m`` is the zero vector.
4. ``consistency(a)``: the mean cosine similarity of ``m(p, a)`` and ``m(p', a)`` over pairs of
   different prompts ``p != p'`` of the same game (a zero vector counts as cosine 0). 1: the
   action moves things the same direction from every prompt; 0: no relation (or no effect).
5. The baseline: the same mean over pairs ``m(p, a)``, ``m(p', a')`` with ``p != p'`` and
   ``a != a'`` (different actions). A world whose actions are consistent *and* distinct has
   consistency well above it; one whose actions mean nothing has both near 0.

Overall consistency is the mean over actions; pairs are pooled over games (never across games).
Because effects are measured against the average action, an action that does nothing reads as
the opposite of the average: consistent when the other actions drift one way on average, about 0
for a balanced action set (up/down, left/right). ``mean |effect|`` and the mean displacement are
reported beside each action's consistency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

_EPS = 1e-6


class World(Protocol):  # what the proxy needs of a Genie world (a stub in tests)
    num_actions: int

    def reset(self, prompt: Tensor, seed: int | None = None) -> Tensor: ...

    def step(self, action: Tensor) -> Tensor: ...


def displacement(effect: Tensor) -> Tensor:
    """Signed images ``... h w`` -> ``... 2``: centroid of the positive part minus centroid of the
    negative part, as ``(dx, dy)`` in pixels; zero where either part is empty."""
    h, w = effect.shape[-2:]
    ys = torch.arange(h, dtype=effect.dtype, device=effect.device)[:, None].expand(h, w)
    xs = torch.arange(w, dtype=effect.dtype, device=effect.device)[None, :].expand(h, w)

    def centroid(mass: Tensor) -> tuple[Tensor, Tensor]:
        total = mass.sum(dim=(-2, -1))
        safe = total.clamp_min(_EPS)
        return torch.stack(((mass * xs).sum(dim=(-2, -1)) / safe, (mass * ys).sum(dim=(-2, -1)) / safe), -1), total

    plus, plus_mass = centroid(effect.clamp_min(0))
    minus, minus_mass = centroid((-effect).clamp_min(0))
    present = ((plus_mass > _EPS) & (minus_mass > _EPS))[..., None]
    return torch.where(present, plus - minus, torch.zeros_like(plus))


def action_effects(frames: Tensor) -> Tensor:
    """Next frames ``p a c h w`` (every action from every prompt) -> effects ``p a h w``."""
    luminance = frames.float().mean(dim=2)
    return luminance - luminance.mean(dim=1, keepdim=True)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.where(norm > _EPS, vectors / np.maximum(norm, _EPS), 0.0)


def consistency_scores(vectors: np.ndarray) -> tuple[np.ndarray, int, float, int]:
    """Displacements ``p a 2`` of one game's prompts -> sums to pool over games: per action the sum
    of cosines over ordered pairs of different prompts, the number of those pairs (per action),
    the sum of cosines over pairs of different prompts *and* different actions, and their number."""
    unit = _unit(vectors)
    p, a = unit.shape[:2]
    cos = np.einsum("pad,qbd->paqb", unit, unit)  # cos[p, a, q, b]
    other_prompt = ~np.eye(p, dtype=bool)[:, None, :, None]
    same_action = np.eye(a, dtype=bool)[None, :, None, :]
    per_action = np.einsum("paqa->a", np.where(other_prompt & same_action, cos, 0.0))
    across = float(np.where(other_prompt & ~same_action, cos, 0.0).sum())
    return per_action, p * (p - 1), across, p * (p - 1) * a * (a - 1)


@torch.no_grad()
def next_frames(world: World, prompts: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    """The world's rendition of each prompt ``p c h w`` and its next frame under every action
    ``p a c h w``; every action from the same MaskGIT seed."""
    rendered, frames = None, []
    for action in range(world.num_actions):
        rendered = world.reset(prompts[:, None], seed=seed)
        frames.append(world.step(torch.full((prompts.shape[0],), action, dtype=torch.long)))
    return rendered, torch.stack(frames, dim=1)


def action_consistency(world: World, prompts_by_game: dict[str, Tensor], seed: int = 0) -> dict:
    """The proxy over games (prompts ``p c h w`` per game; at least 2 per game to form pairs)."""
    num_actions = world.num_actions
    within, pairs = np.zeros(num_actions), np.zeros(num_actions, dtype=np.int64)
    across, across_pairs = 0.0, 0
    sums, effect_sums, moved, prompts = np.zeros((num_actions, 2)), np.zeros(num_actions), np.zeros(num_actions), 0
    games: dict[str, dict] = {}
    for game, prompts_g in prompts_by_game.items():
        _, frames = next_frames(world, prompts_g, seed)
        effects = action_effects(frames.cpu())
        vectors = displacement(effects).numpy().astype(np.float64)
        w, n, x, nx = consistency_scores(vectors)
        within, pairs, across, across_pairs = within + w, pairs + n, across + x, across_pairs + nx
        sums += vectors.sum(axis=0)
        effect_sums += effects.abs().mean(dim=(-2, -1)).sum(dim=0).numpy()
        moved += (np.linalg.norm(vectors, axis=-1) > _EPS).sum(axis=0)
        prompts += len(prompts_g)
        games[game] = {"prompts": len(prompts_g), "consistency": _mean(w.sum(), n * num_actions),
                       "baseline_across_actions": _mean(x, nx)}
    per_action = [
        {"action": a, "consistency": _mean(within[a], pairs[a]),
         "mean_displacement_px": (sums[a] / max(prompts, 1)).round(3).tolist(),
         "mean_abs_effect": float(effect_sums[a] / max(prompts, 1)),
         "prompts_with_effect": int(moved[a])}
        for a in range(num_actions)
    ]
    return {"prompts": prompts, "consistency": _mean(within.sum(), pairs.sum()),
            "baseline_across_actions": _mean(across, across_pairs), "per_action": per_action, "games": games}


def _mean(total: float, count: int) -> float | None:
    return float(total / count) if count else None


def pick_prompts(episodes: Sequence, per_game: int) -> dict[str, list[tuple[int, int]]]:
    """``(episode, frame)`` prompts per game, evenly spaced over the game's held-out frames."""
    frames_by_game: dict[str, list[tuple[int, int]]] = {}
    for i, episode in enumerate(episodes):
        frames_by_game.setdefault(episode.game, []).extend((i, f) for f in range(len(episode.frames) - 1))
    out = {}
    for game, frames in sorted(frames_by_game.items()):
        keep = np.unique(np.linspace(0, len(frames) - 1, min(per_game, len(frames))).round().astype(int))
        out[game] = [frames[k] for k in keep]
    return out
