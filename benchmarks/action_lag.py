"""Which true action does a transition show: the one recorded for it, or the one before?

Two measures, one on the emulator (no model, no labels), one on a trained LAM.

``--emulator``: from states of the recorder's own random play (as ``action_influence.py``), every
allowed action is pressed for one decision (4 emulator frames) and then released (NOOP); the
share of pixels of the 64x64 screen that the choice decides is measured after each of the next
``--frames`` emulator frames. The share at frame 4 is what a screen taken at the decision's end
(the recorder's default) shows of that decision's action, against its full effect (the largest
share over the frames); the share at frame ``d`` is how much of it a screen taken ``d`` frames into the *next*
decision would already show of the next action (``genie-lit record atari --screen-delay d``).
The suggested delay is the smallest whose own share minus next share is within 5 points of the best.

``--ckpt``: the recorder stores ``actions[t]``, the action held while the emulator went from frame ``t`` to
``t + 1``, and every agreement figure (NMI, the 200-shot map) pairs the latent action of that
transition with it. A game that shows an action's effect late (input read once per frame, sprites
with inertia) makes a transition reveal the *previous* decision's action as well. This script
infers the latent actions of a trained LAM (or world) on a split of a recording and scores them
against the true actions shifted by ``k`` decisions: ``k = 0`` is the pairing every other figure
uses, ``k = -1`` the action one decision earlier. Held actions make neighbouring shifts agree in
part anyway; ``--episodes-hold1 DIR`` adds a recording without holds, where they do not.

    python benchmarks/action_lag.py --emulator --games battle_zone,private_eye,tutankham,pong,breakout
    python benchmarks/action_lag.py --ckpt RUN/world/checkpoints/last.ckpt --data RUN/data \
        --split test --out benchmarks/results/action_lag_lam.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from action_influence import FRAME_SKIP, Player, add_sampling_arguments, downscale, sampled_states
from common import RESULTS_DIR, command, finish, machine, print_table
from genie_lit.agents.lam_labels import lam_clip_length, load_lam
from genie_lit.evaluation.data import load_held_out
from genie_lit.evaluation.latent_actions import infer_episode_actions, joint_table, permutation_nmi
from genie_lit.metrics.latent_actions import normalized_mutual_information


def emulator_lag(game: str, states: int, every: int, frames: int, burn_in: int, seed: int) -> dict:
    """Share of the screen decided by a one-decision press, after each emulator frame since the press."""
    player = Player(game, seed)
    ale, noop = player.game.ale, player.game.action_names.index("NOOP")
    moved = np.zeros(frames)
    for start in sampled_states(player, states, every, burn_in):
        outs = []
        for action in player.allowed:
            ale.restoreState(start)
            screens = []
            for frame in range(frames):
                player.game.act(action if frame < FRAME_SKIP else noop)
                screens.append(downscale(player.game.screen()))
            outs.append(np.stack(screens))
        ale.restoreState(start)
        x = np.stack(outs)  # actions, frames, c, h, w
        moved += ((x.max(0) - x.min(0)).max(1) > 0.1).mean((1, 2))
    moved = moved / states
    full = float(moved.max()) or 1e-12  # the press's largest effect (it may fade after the release)
    # a screen taken d frames into the next decision shows the own press after FRAME_SKIP + d frames
    # and the next press (the same curve, one decision later) after d frames
    delays = {d: {"own": float(moved[FRAME_SKIP + d - 1]) / full, "next": float(moved[d - 1]) / full if d else 0.0}
              for d in range(FRAME_SKIP)}
    score = {d: v["own"] - v["next"] for d, v in delays.items()}
    best = min(d for d in delays if score[d] >= max(score.values()) - 0.05)  # the smallest within 5 points
    return {"game": game, "moved_after_frame": moved.tolist(), "full": full, "delays": delays,
            "suggested_delay": best, "first_frame": int(np.argmax(moved > 0)) + 1 if (moved > 0).any() else None}


def emulator_main(args: argparse.Namespace, argv: list[str] | None) -> None:
    results = [emulator_lag(g, args.states, args.every, args.frames, args.burn_in, args.seed)
               for g in args.games.split(",")]
    print_table(["game", "pixels moved (full)", "first frame", "shown at delay 0", "at delay 1", "at delay 2",
                 "at delay 3", "next action shown at 2", "suggested delay"],
                [[r["game"], f"{r['full']:.3f}", r["first_frame"], *(f"{r['delays'][d]['own']:.0%}" for d in range(4)),
                  f"{r['delays'][2]['next']:.0%}", r["suggested_delay"]] for r in results])
    record = {"command": command("action_lag.py", argv), "machine": machine(1),
              "setup": {k: getattr(args, k) for k in ("states", "every", "frames", "burn_in", "seed")}
              | {"frame_skip": FRAME_SKIP, "resolution": 64, "moved_threshold": 0.1,
                 "press": "one decision, then NOOP"},
              "results": results}
    finish(record, Path(args.out) if args.out else RESULTS_DIR / "action_lag_emulator.json")


def shifted_pairs(codes: list[np.ndarray], actions: list[np.ndarray], shift: int) -> tuple[np.ndarray, np.ndarray]:
    """``(latent[t], true[t + shift])`` over every transition where both exist and the action is known."""
    latent, true = [], []
    for c, a in zip(codes, actions):
        n = len(c)
        t = np.arange(max(0, -shift), min(n, n - shift))
        keep = a[t + shift] >= 0
        latent.append(c[t][keep])
        true.append(a[t + shift][keep])
    return np.concatenate(latent), np.concatenate(true)


def lag_table(codes: dict[str, list], actions: dict[str, list], shifts: list[int], num_latent: int) -> dict:
    out = {}
    for game in sorted(codes):
        rows = {}
        for shift in shifts:
            latent, true = shifted_pairs(codes[game], actions[game], shift)
            num_true = int(true.max()) + 1
            joint = joint_table(latent, true, num_latent, num_true)
            rows[str(shift)] = {"nmi": normalized_mutual_information(joint),
                                "nmi_chance": permutation_nmi(latent, true, num_latent, num_true, 5, 0),
                                "transitions": int(len(latent))}
        out[game] = rows
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emulator", action="store_true", help="measure the games on the emulator (no model)")
    parser.add_argument("--games", default="battle_zone,private_eye,tutankham,pong,breakout")
    add_sampling_arguments(parser)
    parser.add_argument("--frames", type=int, default=16, help="emulator frames followed after a press (16)")
    parser.add_argument("--ckpt", help="a LAM or world (co-training) checkpoint")
    parser.add_argument("--data", help="a recorded folder with .actions.npy sidecars")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--shifts", type=int, nargs="+", default=[-2, -1, 0, 1, 2])
    parser.add_argument("--resolution", type=int, nargs=2, default=[64, 64])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.emulator:
        if args.frames < 2 * FRAME_SKIP:
            parser.error(f"--frames must be >= {2 * FRAME_SKIP} (a press and the next decision)")
        return emulator_main(args, argv)
    if not (args.ckpt and args.data):
        parser.error("pass --emulator, or --ckpt and --data")
    lam = load_lam(args.ckpt)
    held = load_held_out(args.data, args.split, tuple(args.resolution), None)
    codes: dict[str, list] = {}
    actions: dict[str, list] = {}
    for episode in held.episodes:
        c = infer_episode_actions(lam, episode, lam_clip_length(lam), 16, torch.device("cpu"))
        codes.setdefault(episode.game, []).append(c)
        actions.setdefault(episode.game, []).append(episode.actions)
    table = lag_table(codes, actions, args.shifts, lam.num_actions)
    print_table(["game", *(f"NMI with the action at t{s:+d}" for s in args.shifts)],
                [[game, *(f"{rows[str(s)]['nmi']:.3f}" for s in args.shifts)] for game, rows in table.items()])
    record = {"command": command("action_lag.py", argv), "machine": machine(args.threads),
              "setup": {k: getattr(args, k) for k in ("ckpt", "data", "split", "shifts")}, "games": table}
    if args.out:
        finish(record, Path(args.out))


if __name__ == "__main__":
    main()
