"""How much of the 64x64 screen an action moves, per Atari game: the data's ceiling on controllability.

A world model can only be steered as far as the actions change the video. This script measures that
on the emulator itself, before any training: it plays each game with the recorder's behaviour
policy (held random movement actions, frame skip 4, FIRE after a reset or a lost life), and every
``--every`` decisions it saves the emulator state, plays each allowed action held for ``--horizon``
decisions from that same state, and compares the resulting screens (area-downscaled to 64x64, as
recorded):

- ``moved``: the fraction of pixels whose colour differs (by more than 0.1 in [0, 1]) between the
  outcomes of different actions, i.e. how much of the frame the choice of action decides;
- ``action_psnr``: the PSNR between the outcomes of two different actions, averaged over pairs
  (lower = actions matter more); a perfect world model's Δ4PSNR is bounded by how far apart these are;
- ``static``: the fraction of pixels that do not change over ``--horizon`` decisions at all.

A same-action replay checks that restoring the state is deterministic (``replay_mse`` must be 0).
No model, no labels: choosing games by this number is not label-informed model selection.

    python benchmarks/action_influence.py                         # every game ale-py ships
    python benchmarks/action_influence.py --games boxing,pong,breakout --states 20
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common import RESULTS_DIR, command, finish, machine, print_table
from genie_lit.data.atari import AtariGame, HeldRandomPolicy, available_games, movement_actions

FRAME_SKIP = 4


def downscale(screen: np.ndarray, size: int = 64) -> np.ndarray:
    x = torch.from_numpy(screen).permute(2, 0, 1)[None].float() / 255.0
    return F.interpolate(x, size=(size, size), mode="area")[0].numpy()


class Player:
    """The recorder's policy on one emulator: held random moves, FIRE after a reset or a lost life."""

    def __init__(self, game: str, seed: int) -> None:
        self.game = AtariGame(game, seed)
        self.allowed = movement_actions(self.game.action_names)
        self.policy = HeldRandomPolicy(self.allowed, (1, 8), np.random.default_rng(seed))
        self.game.reset()
        self.lives, self.fire_next, self.game_overs = self.game.lives(), self.game.fire is not None, 0

    def decide(self, action: int | None = None) -> None:
        if action is None:
            action = self.game.fire if self.fire_next else self.policy()
        self.fire_next = False
        for _ in range(FRAME_SKIP):
            self.game.act(action)
        if self.game.game_over():
            self.game_overs += 1
            self.game.reset()
            self.fire_next = self.game.fire is not None
        elif self.game.lives() < self.lives:
            self.fire_next = self.game.fire is not None
        self.lives = self.game.lives()

    def outcome(self, action: int, horizon: int) -> np.ndarray:
        for _ in range(horizon):
            for _ in range(FRAME_SKIP):
                self.game.act(action)
        return downscale(self.game.screen())


def sampled_states(player: Player, states: int, every: int, burn_in: int):
    """``states`` emulator states of the recorder's play: after ``burn_in`` decisions, then every
    ``every`` decisions, never between lives. Restore each before the next is drawn."""
    for _ in range(burn_in):
        player.decide()
    for _ in range(states):
        for _ in range(every):
            player.decide()
        if player.fire_next:  # between lives: let the policy serve first
            player.decide()
        yield player.game.ale.cloneState()


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of :func:`sampled_states` (``--states``, ``--every``, ``--burn-in``, ``--seed``)."""
    parser.add_argument("--states", type=int, default=40, help="emulator states sampled per game (40)")
    parser.add_argument("--every", type=int, default=12, help="decisions between sampled states (12)")
    parser.add_argument("--burn-in", type=int, default=60, help="decisions before the first sample (60)")
    parser.add_argument("--seed", type=int, default=0)


def measure(game: str, states: int, every: int, horizon: int, burn_in: int, seed: int) -> dict:
    player = Player(game, seed)
    ale = player.game.ale
    moved, pair_mse, static, replay = [], [], [], []
    for start in sampled_states(player, states, every, burn_in):
        now = downscale(player.game.screen())
        outs = []
        for action in player.allowed:
            ale.restoreState(start)
            outs.append(player.outcome(action, horizon))
        ale.restoreState(start)
        replay.append(float(((player.outcome(player.allowed[0], horizon) - outs[0]) ** 2).mean()))
        ale.restoreState(start)
        x = np.stack(outs)  # A c h w
        spread = (x.max(0) - x.min(0)).max(0)  # h w
        moved.append(float((spread > 0.1).mean()))
        pair_mse.append(float(np.mean([((x[i] - x[j]) ** 2).mean() for i, j in itertools.combinations(range(len(x)), 2)])))
        static.append(float((np.abs(x - now[None]).max(1).max(0) <= 0.1).mean()))
    mse = float(np.mean(pair_mse))
    return {"game": game, "actions": len(player.allowed), "moved": float(np.mean(moved)),
            "moved_std": float(np.std(moved)), "action_mse": mse,
            "action_psnr": float(10 * np.log10(1.0 / mse)) if mse > 0 else float("inf"),
            "static": float(np.mean(static)), "replay_mse": float(np.max(replay)),
            "game_overs": player.game_overs, "decisions": burn_in + states * (every + 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", help="comma-separated ALE games (default: every game ale-py ships)")
    add_sampling_arguments(parser)
    parser.add_argument("--horizon", type=int, default=4, help="decisions each action is held (4, as Δ4PSNR)")
    parser.add_argument("--one", metavar="GAME", help=argparse.SUPPRESS)  # internal: measure one game, print JSON
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "action_influence.json")
    args = parser.parse_args(argv)
    games = args.games.split(",") if args.games else available_games()
    if args.one:
        print(json.dumps(measure(args.one, args.states, args.every, args.horizon, args.burn_in, args.seed)))
        return {}
    results, failed = [], {}
    for game in games:  # one process per game: the emulator exits the process on a ROM it cannot wrap
        settings = [f"--{k.replace('_', '-')}={getattr(args, k)}" for k in ("states", "every", "horizon", "burn_in", "seed")]
        done = subprocess.run([sys.executable, __file__, "--one", game, *settings], capture_output=True, text=True)
        try:
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        except (IndexError, ValueError):
            failed[game] = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[-1]
    results.sort(key=lambda r: -r["moved"])
    print_table(["game", "actions", "moved by action", "action PSNR (dB)", "static", "game overs"],
                [[r["game"], r["actions"], f"{r['moved']:.3f}", f"{r['action_psnr']:.1f}", f"{r['static']:.2f}",
                  r["game_overs"]] for r in results])
    record = {"command": command("action_influence.py", argv), "machine": machine(1),
              "setup": {k: getattr(args, k) for k in ("states", "every", "horizon", "burn_in", "seed")} |
              {"frame_skip": FRAME_SKIP, "resolution": 64, "moved_threshold": 0.1, "policy": "held random (1, 8)"},
              "results": results, "failed": failed}
    finish(record, args.out)
    return record


if __name__ == "__main__":
    main()
