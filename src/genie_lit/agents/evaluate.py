"""Agents in the real Atari game: the behaviour-cloned policy (its latent actions mapped to real
ones), optionally the oracle, a random policy and the scripted expert, each over the same episode
seeds; mean return with a 95% confidence interval and the normalised score
``(return - random) / (expert - random)``.

The game runs as the recorder records it (frame skip 4, no sticky actions, FIRE at the start and
after a lost life, frames resized to the policy's resolution with the same area filter), so the
policy sees what it saw in its demonstrations. An episode ends at game over or after ``max_steps``
decisions.

By default a policy draws each action from its distribution. With ``greedy`` it takes its most
likely action, and with probability ``epsilon`` a uniformly random one of the game's actions
instead (the evaluation of Mnih et al., 2015, which used 0.05): the emulator is deterministic (no
sticky actions), so without that a greedy policy would play the same episode from every seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import av
import numpy as np
import torch

from genie_lit.agents.action_map import DEFAULT_SHOTS, ActionMap, fit_game_map, map_path
from genie_lit.agents.expert_data import load_episode, stack_history
from genie_lit.agents.policy import BehaviourCloning
from genie_lit.data.atari import (EXPERT_GAMES, AtariGame, HeldRandomPolicy, ScriptedExpert, movement_actions,
                                  resolve_game)
from genie_lit.data.index import scan_folder, split_files
from genie_lit.models.checkpoints import build_from_checkpoint, read_checkpoint

FRAME_SKIP = 4
Z95 = 1.96  # normal approximation of the 95% interval of a mean


@dataclass
class Rollout:
    episode_return: float
    steps: int
    frames: list[np.ndarray] = field(default_factory=list)


def observe(screen: np.ndarray, resolution: int) -> np.ndarray:
    """The screen as the recorder stores it: ``resolution`` square, area-filtered, uint8 RGB."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(screen), format="rgb24")
    return frame.reformat(width=resolution, height=resolution, format="rgb24", interpolation="AREA",
                          threads=1).to_ndarray()


def play(game_name: str, choose: Callable[[AtariGame, list[np.ndarray]], int], seed: int, max_steps: int,
         resolution: int, keep_frames: bool = False) -> Rollout:
    """One episode: ``choose(game, observations so far)`` returns each decision's action index."""
    game = AtariGame(game_name, seed)
    game.reset()
    seen = [observe(game.screen(), resolution)]
    total, steps, lives = 0.0, 0, game.lives()
    fire_next = game.fire is not None
    while steps < max_steps and not game.game_over():
        action = game.fire if fire_next else choose(game, seen)
        for _ in range(FRAME_SKIP):
            total += game.act(action)
        seen.append(observe(game.screen(), resolution))
        if not keep_frames:
            seen = seen[-64:]  # enough history for any policy
        fire_next = game.fire is not None and game.lives() < lives
        lives = game.lives()
        steps += 1
    return Rollout(total, steps, seen if keep_frames else [])


def real_action(output: int, action_map: ActionMap | None, game_name: str, count: int) -> int:
    """The game action a policy's output plays: a latent code through ``action_map``; an oracle's
    output beyond the game's ``count`` actions (a network sized for 18) is NOOP."""
    action = action_map(game_name, output) if action_map is not None else output
    return action if action < count else 0


def policy_chooser(policy: BehaviourCloning, game_name: str, action_map: ActionMap | None, seed: int,
                   greedy: bool = False, epsilon: float = 0.0) -> Callable[[AtariGame, list[np.ndarray]], int]:
    """Decisions of ``policy`` from the last frames; latent codes go through ``action_map``. With
    probability ``epsilon`` a decision is a uniformly random game action instead (seeded by ``seed``)."""
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng([seed, 0xE95])
    device = next(policy.parameters()).device

    def choose(game: AtariGame, seen: list[np.ndarray]) -> int:
        if epsilon > 0 and rng.random() < epsilon:
            return int(rng.integers(len(game.actions)))
        frames = stack_history(np.stack(seen[-policy.history:]), min(len(seen), policy.history) - 1, policy.history)
        code = int(policy.act(frames[None].to(device), greedy=greedy, generator=generator)[0])
        return real_action(code, action_map, game_name, len(game.actions))

    return choose


def baseline_chooser(kind: str, seed: int) -> Callable[[AtariGame, list[np.ndarray]], int]:
    state: dict = {}

    def choose(game: AtariGame, seen: list[np.ndarray]) -> int:
        if "policy" not in state:
            rng = np.random.default_rng(seed)
            allowed = movement_actions(game.action_names)
            state["policy"] = ScriptedExpert(game, rng) if kind == "expert" else HeldRandomPolicy(allowed, (1, 1), rng)
        return state["policy"]()

    return choose


def expert_agreement(policies: dict[str, tuple[BehaviourCloning, ActionMap | None]], game_name: str,
                     decisions: int = 1000, seed: int = 0, resolution: int = 64, batch: int = 256) -> dict:
    """How often each policy's most likely action is the scripted expert's, on the expert's own
    trajectory: the expert plays ``decisions`` decisions without random actions (epsilon 0; FIRE
    after a lost life is not counted), and each policy (latent codes through its map) is asked for
    its mode at every decision. Returns ``{name: share}``, ``"majority"``, the share of the
    expert's most frequent action (what a constant policy would reach), and ``"confusion"``:
    ``{name: counts}`` with ``counts[expert's action][policy's action]`` over the game's actions."""
    decided: list[tuple[int, int]] = []
    state: dict = {}

    def expert(game: AtariGame, seen: list[np.ndarray]) -> int:
        if "expert" not in state:
            state["expert"] = ScriptedExpert(game, np.random.default_rng(seed), epsilon=0.0)
        decided.append((len(seen) - 1, state["expert"]()))
        return decided[-1][1]

    frames = np.stack(play(game_name, expert, seed, decisions, resolution, keep_frames=True).frames)
    if not decided:  # every decision was a serve's FIRE
        return {"decisions": 0, "majority": None, "confusion": {}, **{name: None for name in policies}}
    steps, actions = (np.array(column) for column in zip(*decided))
    result = {"decisions": len(actions), "majority": float(np.bincount(actions).max() / len(actions)), "confusion": {}}
    count = len(state["expert"].game.actions)
    for name, (policy, action_map) in policies.items():
        device, chosen = next(policy.parameters()).device, []
        for start in range(0, len(steps), batch):
            stacked = torch.stack([stack_history(frames, int(t), policy.history) for t in steps[start:start + batch]])
            with torch.no_grad():
                chosen += policy.act(stacked.to(device), greedy=True).tolist()
        chosen = np.array([real_action(output, action_map, game_name, count) for output in chosen])
        result[name] = float(np.mean(chosen == actions))
        confusion = np.zeros((count, count), dtype=np.int64)
        np.add.at(confusion, (actions, chosen), 1)
        result["confusion"][name] = confusion.tolist()
    return result


def summarise(returns: list[float]) -> dict:
    mean = float(np.mean(returns))
    half = Z95 * float(np.std(returns, ddof=1)) / math.sqrt(len(returns)) if len(returns) > 1 else float("nan")
    return {"mean": mean, "ci95": half, "returns": [float(r) for r in returns]}


def load_policy(ckpt: str | Path, device: torch.device) -> tuple[BehaviourCloning, dict]:
    """The policy and the hyper-parameters of the data module it was trained with."""
    checkpoint = read_checkpoint(ckpt, "policy checkpoint")
    policy = build_from_checkpoint(checkpoint, BehaviourCloning, ckpt, "policy checkpoint").eval().to(device)
    return policy, dict(checkpoint.get("datamodule_hyper_parameters", {}))


def fit_map(data: dict, game: str, shots: int, seed: int, data_dir: str | None = None) -> dict:
    """A ``shots``-transition map for ``game`` from the policy's training episodes: the LAM's codes
    for their frames, the sidecars' true actions for the drawn transitions."""
    from genie_lit.agents.lam_labels import infer_latent_actions, lam_clip_length, load_lam

    root = data_dir or data.get("data_dir")
    if not root or not data.get("lam_ckpt"):
        raise ValueError("fitting the action map needs the expert data and the LAM the policy was trained with; "
                         "pass --data DIR (the policy checkpoint names its LAM)")
    scan = scan_folder(Path(root))
    train = [v for v in split_files(scan.videos, data.get("val_fraction", 0.1), 0.0, data.get("seed", 0))["train"]
             if v.game == game and v.actions_path is not None]
    if not train:
        raise ValueError(f"no training episode of {game!r} with an action sidecar in {root}")
    lam = load_lam(data["lam_ckpt"])
    latent, true = [], []
    for video in train:
        frames = load_episode(video, data.get("resolution", 64))
        latent.append(infer_latent_actions(lam, frames, lam_clip_length(lam)))
        table = np.load(video.actions_path).astype(np.int64)[: len(frames) - 1]
        true.append(np.pad(table, (0, len(frames) - 1 - len(table)), constant_values=-1))
    return fit_game_map(np.concatenate(latent), np.concatenate(true), shots, seed)


def evaluate_agent(policy_ckpt: str | Path, game: str, episodes: int = 20, max_steps: int = 1000, seed: int = 0,
                   oracle_ckpt: str | Path | None = None, shots: int = DEFAULT_SHOTS, data_dir: str | None = None,
                   video: str | Path | None = None, device: str | torch.device = "cpu",
                   baselines: bool = True, greedy: bool = False, epsilon: float = 0.0) -> dict:
    """Returns of the policy (and oracle, random, expert) over ``episodes`` seeded episodes of ``game``;
    in a game the scripted expert plays, also the policy's (and oracle's) :func:`expert_agreement`
    over ``max_steps`` decisions. ``greedy``: the policies take their most likely action instead of
    drawing one, and a random one with probability ``epsilon``."""
    if not 0 <= epsilon <= 1:
        raise ValueError(f"epsilon (--epsilon) is a probability: give a value in [0, 1], got {epsilon}")
    if greedy and epsilon == 0 and episodes > 1:
        raise ValueError(f"a greedy policy in the deterministic emulator plays the same episode from every seed, so "
                         f"{episodes} episodes would repeat one: add random actions (--epsilon 0.05, as Mnih et al. "
                         "2015 evaluated) or play one episode")
    game = resolve_game(game)
    device = torch.device(device)
    policy, data = load_policy(policy_ckpt, device)
    resolution = int(data.get("resolution", 64))
    action_map, map_file = None, None
    if data.get("labels", "latent") == "latent":
        map_file = map_path(policy_ckpt)
        action_map = ActionMap.load(map_file) if map_file.exists() else ActionMap()
        entry = action_map.games.get(game)
        if entry is None or entry.get("shots") != shots:
            action_map.games[game] = fit_map(data, game, shots, seed, data_dir)
            action_map.save(map_file)
    agents: dict[str, Callable[[int], Callable]] = {
        "policy": lambda s: policy_chooser(policy, game, action_map, s, greedy, epsilon)}
    if oracle_ckpt is not None:
        oracle, _ = load_policy(oracle_ckpt, device)
        agents["oracle"] = lambda s: policy_chooser(oracle, game, None, s, greedy, epsilon)
    if baselines:
        agents["random"] = lambda s: baseline_chooser("random", s)
        agents["expert"] = lambda s: baseline_chooser("expert", s)
    results: dict = {"game": game, "episodes": episodes, "max_steps": max_steps, "seed": seed, "shots": shots,
                     "greedy": greedy, "epsilon": epsilon,
                     "policy": str(policy_ckpt), "labels": data.get("labels", "latent"),
                     "action_map": str(map_file) if map_file else None, "agents": {}}
    for name, make in agents.items():
        returns = []
        for k in range(episodes):
            keep = video is not None and name == "policy" and k == 0
            rollout = play(game, make(seed + k), seed + k, max_steps, resolution, keep_frames=keep)
            returns.append(rollout.episode_return)
            if keep:
                from genie_lit.media.write import write_video

                write_video(rollout.frames, video, fps=60 / FRAME_SKIP)
                results["video"] = str(video)
        results["agents"][name] = summarise(returns)
    if baselines:
        low, high = results["agents"]["random"]["mean"], results["agents"]["expert"]["mean"]
        for entry in results["agents"].values():
            entry["normalised"] = (entry["mean"] - low) / (high - low) if high != low else None
    if game in EXPERT_GAMES:
        judged = {"policy": (policy, action_map), **({"oracle": (oracle, None)} if oracle_ckpt is not None else {})}
        results["expert_agreement"] = expert_agreement(judged, game, max_steps, seed, resolution)
    return results
