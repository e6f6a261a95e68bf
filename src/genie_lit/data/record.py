"""``genie-lit record atari``: a data set of real Atari 2600 gameplay, recorded offline with ale-py.

Layout of a recording in ``out/``::

    manifest.json                 settings, games (with action names) and one record per episode
    <game>/ep0000.mp4             one lossless 64x64 RGB video per episode (see genie_lit.media.write)
    <game>/ep0000.actions.npy     int64, frames - 1: the true action of each transition t -> t+1

An action is an index into the game's *minimal* action set (names in ``manifest["games"]``). The
sidecars are never used by training (its loader passes them along for the metrics); they exist to
evaluate latent actions against the truth.

Timing: the console runs at 60 Hz; the policy decides every ``frame_skip`` emulator frames and the
action is repeated over them; a video frame is taken every ``60 / fps`` emulator frames (default:
one per decision, 15 fps at frame skip 4), so every transition lies within one decision and has
exactly one true action. Episodes end after ``steps`` transitions or at game over.

Many games show an action a few emulator frames late: Battle Zone's view starts to turn 3 frames
after the press, Tutankham's explorer moves after 4 (``python benchmarks/action_lag.py
--emulator``). With frame skip 4 a screen taken at the decision's end then shows only part of that
decision's action, the rest lands in the next transition and is paired with the next action.
``screen_delay`` takes every screen that many emulator frames into the next decision (the next
action already pressed but not yet shown), so each transition shows its own action; the true
action of transition ``t -> t+1`` is still the one decided at ``t``.

Policies (``--policy``): ``random`` (default) holds uniformly random actions for random spans;
``expert`` is the scripted paddle player of Pong and Breakout
(:class:`~genie_lit.data.atari.ScriptedExpert`, with a share ``--expert-epsilon`` of random
actions), the demonstrations for behaviour cloning (``genie_lit.agents``). Its episodes keep
their true actions in the sidecars as well.

Every episode is reproducible on its own: its emulator and policy are seeded from
``(seed, game, episode number)``, and its split (train/val/test) is drawn from ``(seed, game)``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np

from genie_lit.commands import add_common_flags, new_parser, run_command
from genie_lit.data.atari import (
    ATARI_HZ, DEFAULT_GAMES, EXPERT_GAMES, INSTALL_HINT, AtariGame, HeldRandomPolicy, ScriptedExpert, available_games,
    movement_actions, resolve_game,
)
from genie_lit.data.index import ACTIONS_SUFFIX, INDEX_FILE, MANIFEST_FILE
from genie_lit.media.write import VideoWriter

FORMAT = "genie_lit.record/1"


class DatasetExistsError(FileExistsError):
    """The output folder already holds a recording (or files the recording would replace)."""


def record_atari(
    out: str | Path,
    games: list[str],
    episodes: int = 8,
    steps: int = 500,
    frame_skip: int = 4,
    resolution: tuple[int, int] = (64, 64),
    fps: float | None = None,
    seed: int = 0,
    actions: str = "movement",
    hold: tuple[int, int] = (1, 8),
    fire_on_reset: bool = True,
    val_episodes: int = 1,
    test_episodes: int = 0,
    keyframe_interval: int = 16,
    mode: str = "new",
    progress: bool = False,
    policy: str = "random",
    expert_epsilon: float = 0.05,
    screen_delay: int = 0,
) -> dict:
    """Record ``episodes`` episodes of each game into ``out``; returns the manifest.

    ``mode``: ``"new"`` refuses a folder that holds a recording, ``"overwrite"`` deletes the
    files of the old recording first, ``"append"`` adds episodes (numbered after the existing
    ones) to a recording made with the same settings. ``policy``: ``"random"`` (held random
    actions) or ``"expert"`` (:class:`~genie_lit.data.atari.ScriptedExpert`, Pong and Breakout,
    random with probability ``expert_epsilon``). ``screen_delay``: emulator frames into the next
    decision at which each video frame's screen is taken (0: at the decision's end); see the module
    docstring.
    """
    out = Path(out)
    games = [resolve_game(game) for game in games]
    if episodes < 1 or steps < 1:
        raise ValueError(f"episodes and steps must be >= 1, got {episodes} and {steps}")
    if actions not in ("movement", "minimal"):
        raise ValueError(f"actions must be 'movement' or 'minimal', got {actions!r}")
    if policy not in ("random", "expert"):
        raise ValueError(f"policy must be 'random' or 'expert', got {policy!r}")
    if policy == "expert" and any(game not in EXPERT_GAMES for game in games):
        raise ValueError(f"the expert policy plays {', '.join(sorted(EXPERT_GAMES))}; "
                         f"got {', '.join(g for g in games if g not in EXPERT_GAMES)}")
    if not 0.0 <= expert_epsilon <= 1.0:
        raise ValueError(f"expert epsilon must be in [0, 1], got {expert_epsilon}")
    if len(resolution) != 2 or min(resolution) < 1:
        raise ValueError(f"resolution must be (height, width) of positive sizes, got {resolution}")
    if not 1 <= hold[0] <= hold[1]:
        raise ValueError(f"hold range must satisfy 1 <= MIN <= MAX, got {tuple(hold)}")
    frames_per_video_frame = _frames_per_video_frame(frame_skip, fps)
    if not 0 <= screen_delay < frame_skip:
        raise ValueError(f"screen delay must be in [0, frame skip) = [0, {frame_skip}), got {screen_delay}")
    if screen_delay and frames_per_video_frame != frame_skip:
        raise ValueError(f"a screen delay needs one video frame per decision (fps {ATARI_HZ / frame_skip:g} at frame "
                         f"skip {frame_skip}), got fps {ATARI_HZ / frames_per_video_frame:g}")
    settings = {
        "format": FORMAT,
        "source": "atari",
        "emulator_hz": ATARI_HZ,
        "frame_skip": frame_skip,
        "fps": ATARI_HZ / frames_per_video_frame,
        "resolution": list(resolution),
        "interpolation": "AREA",
        "codec": {"container": "mp4", "name": "libx264rgb", "qp": 0, "lossless": True,
                  "keyframe_interval": keyframe_interval},
        "policy": {"name": "held_random", "actions": actions, "hold": list(hold),
                   "fire_on_reset": fire_on_reset, "repeat_action_probability": 0.0},
    }
    if screen_delay:  # absent when 0, so recordings made before the option still take --append
        settings["screen_delay"] = screen_delay
    if policy == "expert":
        settings["policy"] = {"name": "scripted_expert", "epsilon": expert_epsilon, "actions": actions,
                              "fire_on_reset": fire_on_reset, "repeat_action_probability": 0.0}
    manifest = _prepare_folder(out, settings, mode, games)
    manifest.update(settings)
    progress_line = _Progress(len(games) * episodes, enabled=progress)
    for game_name in games:
        done = [e["episode"] for e in manifest["episodes"] if e["game"] == game_name]
        first = max(done, default=-1) + 1
        splits = _episode_splits(episodes, val_episodes, test_episodes, seed, game_name, first)
        for number in range(first, first + episodes):
            game = AtariGame(game_name, _episode_seed(seed, game_name, number, 0))
            allowed = movement_actions(game.action_names) if actions == "movement" else list(range(len(game.actions)))
            manifest["games"][game_name] = {"action_names": game.action_names, "policy_actions": allowed}
            rng = np.random.default_rng(_episode_seed(seed, game_name, number, 1))
            behaviour = ScriptedExpert(game, rng, expert_epsilon, allowed) if policy == "expert" \
                else HeldRandomPolicy(allowed, hold, rng)
            record = _record_episode(out, game, behaviour, number, steps, frame_skip, frames_per_video_frame,
                                     resolution, keyframe_interval, fire_on_reset, progress_line, screen_delay)
            record.update(split=splits[number - first], seed=seed, fps=settings["fps"], resolution=list(resolution))
            manifest["episodes"].append(record)
            _write_json(out / MANIFEST_FILE, manifest)  # after every episode: an interruption keeps what is done
    progress_line.finish(out)
    return manifest


def _frames_per_video_frame(frame_skip: int, fps: float | None) -> int:
    if frame_skip < 1:
        raise ValueError(f"frame skip must be >= 1, got {frame_skip}")
    valid = {ATARI_HZ / k: k for k in range(1, frame_skip + 1) if frame_skip % k == 0}
    if fps is None:
        return frame_skip
    for rate, k in valid.items():
        if abs(rate - fps) < 1e-6:
            return k
    choices = ", ".join(f"{rate:g}" for rate in sorted(valid))
    raise ValueError(f"fps {fps:g} does not fit frame skip {frame_skip} at {ATARI_HZ} Hz: every transition must lie "
                     f"within one decision, so fps must be one of {choices} (or change --frame-skip)")


def _episode_seed(seed: int, game: str, number: int, stream: int) -> int:
    sequence = np.random.SeedSequence([seed % 2**32, zlib.crc32(game.encode()), number, stream])
    return int(sequence.generate_state(1)[0])


def _episode_splits(count: int, val: int, test: int, seed: int, game: str, first: int) -> list[str]:
    """Splits of ``count`` new episodes: ``test`` and ``val`` of them drawn by a seeded shuffle,
    the rest train; held-out counts shrink so that at least one episode trains."""
    test = min(test, count - 1)
    val = min(val, count - 1 - test)
    order = np.random.default_rng([seed % 2**32, zlib.crc32(game.encode()), first, 2]).permutation(count)
    splits = ["train"] * count
    for rank, i in enumerate(order[: test + val]):
        splits[i] = "test" if rank < test else "val"
    return splits


def _record_episode(out, game, policy, number, steps, frame_skip, frames_per_video_frame, resolution,
                    keyframe_interval, fire_on_reset, progress, screen_delay=0) -> dict:
    rel = Path(game.game) / f"ep{number:04d}.mp4"
    actions: list[int] = []
    total_reward, lives_lost, end = 0.0, 0, "steps"
    game.reset()
    lives = game.lives()
    fire_next = fire_on_reset and game.fire is not None  # e.g. Breakout waits for FIRE to serve

    def choose() -> int:
        nonlocal fire_next
        chosen = game.fire if fire_next else policy()
        fire_next = False
        return chosen

    def count_lives() -> None:
        nonlocal lives, lives_lost, fire_next
        if game.lives() < lives:
            lives_lost += lives - game.lives()
            fire_next = fire_on_reset and game.fire is not None
        lives = game.lives()

    chunks = frame_skip // frames_per_video_frame
    action = choose()
    with VideoWriter(out / rel, ATARI_HZ / Fraction(frames_per_video_frame), resolution, keyframe_interval) as writer:
        for _ in range(screen_delay):  # the first screen, too, is taken screen_delay frames into its decision
            total_reward += game.act(action)
        writer.write(game.screen())
        progress.frame()
        while len(actions) < steps and end == "steps":
            following = None
            for chunk in range(chunks):
                last = chunk == chunks - 1
                for _ in range(frames_per_video_frame - (screen_delay if last else 0)):
                    total_reward += game.act(action)
                if last:  # the decision is over: the next one starts, its screen after screen_delay frames
                    count_lives()
                    following = choose()
                    for _ in range(screen_delay):
                        total_reward += game.act(following)
                writer.write(game.screen())
                actions.append(action)
                progress.frame()
                if game.game_over():
                    end = "game_over"
                if len(actions) >= steps or end != "steps":
                    break
            if following is None:  # the episode ended within the decision
                count_lives()
            action = following
    actions_rel = rel.with_name(rel.stem + ACTIONS_SUFFIX)
    np.save(out / actions_rel, np.asarray(actions, dtype=np.int64))
    progress.episode(game.game, number)
    return {"file": rel.as_posix(), "actions": actions_rel.as_posix(), "game": game.game, "episode": number,
            "frames": len(actions) + 1, "end": end, "return": total_reward, "lives_lost": lives_lost}


def _prepare_folder(out: Path, settings: dict, mode: str, games: list[str]) -> dict:
    """The manifest to extend: empty for a new or overwritten folder, the old one to append to."""
    if mode not in ("new", "overwrite", "append"):
        raise ValueError(f"mode must be 'new', 'overwrite' or 'append', got {mode!r}")
    manifest_path = out / MANIFEST_FILE
    try:
        old = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    except ValueError as err:
        raise DatasetExistsError(f"{manifest_path} exists but is not valid JSON ({err}); move it away") from err
    if old is None and mode != "overwrite":
        clash = sorted(p for game in games for p in (out / game).glob("ep*.mp4"))
        if clash:
            raise DatasetExistsError(f"{out} already holds episode files without a manifest (e.g. {clash[0]}); "
                                     "pass --overwrite to replace them or choose another --out")
    if mode == "append" and old is not None:
        keys = ("format", "frame_skip", "fps", "resolution", "interpolation", "policy", "screen_delay")
        differ = [k for k in keys if old.get(k) != settings.get(k)]
        if differ:
            raise ValueError(f"cannot append to {manifest_path}: it was recorded with other settings "
                             + "; ".join(f"{k}: {old.get(k)} here {settings.get(k)}" for k in differ))
        old.setdefault("games", {})
        return old
    if old is not None and mode != "overwrite":
        raise DatasetExistsError(
            f"{out} already holds a recording ({len(old.get('episodes', []))} episodes in {manifest_path}); "
            "pass --append to add episodes to it, --overwrite to replace it, or choose another --out"
        )
    if old is not None:  # overwrite: remove exactly the files the old recording made
        for episode in old.get("episodes", []):
            for key in ("file", "actions"):
                if episode.get(key):
                    (out / episode[key]).unlink(missing_ok=True)
        manifest_path.unlink()
        (out / INDEX_FILE).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    return {"episodes": [], "games": {}}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


class _Progress:
    """One line on stderr: episodes, frames and frames/s (rewritten in place on a terminal)."""

    def __init__(self, episodes: int, enabled: bool) -> None:
        self.total, self.enabled = episodes, enabled
        self.done = self.frames = 0
        self.start = self.shown = time.perf_counter()
        self.tty = enabled and sys.stderr.isatty()
        self.label = ""

    def rate(self) -> float:
        return self.frames / max(time.perf_counter() - self.start, 1e-9)

    def frame(self) -> None:
        self.frames += 1
        if self.tty and time.perf_counter() - self.shown > 0.5:
            self._show("\r")

    def episode(self, game: str, number: int) -> None:
        self.done += 1
        self.label = f"{game} ep{number:04d}"
        if self.enabled:
            self._show("\r" if self.tty else "", end="" if self.tty else "\n")

    def _show(self, prefix: str, end: str = "") -> None:
        self.shown = time.perf_counter()
        print(f"{prefix}[record] episodes {self.done}/{self.total} ({self.label}) | frames {self.frames} | "
              f"{self.rate():.0f} frames/s", end=end, file=sys.stderr, flush=True)

    def finish(self, out: Path) -> None:
        self.seconds = time.perf_counter() - self.start
        if self.enabled:
            print(f"{chr(10) if self.tty else ''}[record] {self.done} episodes, {self.frames} frames in "
                  f"{self.seconds:.1f} s ({self.rate():.0f} frames/s) -> {out / MANIFEST_FILE}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser("record", "Record real game video for genie_lit.", quiet=False)
    sources = parser.add_subparsers(dest="source", required=True, metavar="SOURCE")
    atari = sources.add_parser(
        "atari", help="Atari 2600 gameplay through ale-py (pip install 'genie-lit[atari]')",
        description="Record real Atari 2600 gameplay offline with ale-py (its wheel ships the ROMs): one lossless "
        "64x64 mp4 per episode, a .actions.npy sidecar with the true action of every transition (for evaluating "
        "latent actions; training never uses it) and manifest.json with each episode's game, seed, frames, fps, "
        "resolution and split. The policy holds random actions for random spans so the player moves visibly.",
        epilog=f"example: genie-lit record atari --games {DEFAULT_GAMES} --episodes 8 --steps 500 --out data/atari",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    atari.set_defaults(subparser=atari)  # errors print this subcommand's usage
    atari.add_argument("--games", default=DEFAULT_GAMES,
                       help="comma-separated games (ALE names, e.g. pong, ms_pacman; --list-games shows all)")
    atari.add_argument("--list-games", action="store_true", help="print the available games and exit")
    atari.add_argument("--episodes", type=int, default=8, help="episodes per game")
    atari.add_argument("--steps", type=int, default=500,
                       help="transitions per episode (frames = steps + 1); an episode ends earlier at game over")
    atari.add_argument("--frame-skip", type=int, default=4, help="emulator frames (1/60 s) each action is held")
    atari.add_argument("--screen-delay", type=int, default=0, metavar="FRAMES",
                       help="emulator frames into the next decision at which each frame's screen is taken, so a "
                       "game that shows an action a few frames late shows it in the frame paired with that action "
                       "(benchmarks/action_lag.py measures each game's delay); 0 takes it at the decision's end")
    atari.add_argument("--fps", type=float, default=None,
                       help="video frame rate; default 60 / frame-skip (one frame per decision)")
    atari.add_argument("--resolution", type=int, nargs="+", default=[64, 64], metavar="N",
                       help="output size: one number (square) or height width")
    atari.add_argument("--seed", type=int, default=0, help="seed of emulators, policy and splits")
    atari.add_argument("--actions", choices=("movement", "minimal"), default="movement",
                       help="actions the policy draws from: 'movement' (NOOP and directions; the FIRE variants "
                       "often look like their plain twins at 64x64) or the game's whole 'minimal' action set")
    atari.add_argument("--policy", choices=("random", "expert"), default="random",
                       help="who plays: 'random' holds random actions; 'expert' is a scripted paddle player that "
                       "follows the ball from the console's RAM (pong and breakout only; demonstrations for "
                       "`genie-lit agent`)")
    atari.add_argument("--expert-epsilon", type=float, default=0.05,
                       help="share of random actions of the expert policy")
    atari.add_argument("--hold", type=int, nargs=2, default=[1, 8], metavar=("MIN", "MAX"),
                       help="an action is held for a uniform random number of decisions in [MIN, MAX]")
    atari.add_argument("--fire-on-reset", action=argparse.BooleanOptionalAction, default=True,
                       help="press FIRE once at the start and after a lost life (games such as Breakout wait for it)")
    atari.add_argument("--val-episodes", type=int, default=1, help="episodes per game in the val split")
    atari.add_argument("--test-episodes", type=int, default=0, help="episodes per game in the test split")
    atari.add_argument("--keyframe-interval", type=int, default=16, help="frames between keyframes (cheap seeks)")
    atari.add_argument("--out", default="data/atari", help="output folder")
    existing = atari.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace a recording already in --out")
    existing.add_argument("--append", action="store_true",
                          help="add episodes to the recording in --out (same settings; numbering continues)")
    add_common_flags(atari)  # --quiet (no progress line either), --version
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()

    def on_interrupt(args: argparse.Namespace) -> str:
        return f"interrupted: finished episodes are kept in {args.out}; add more with --append"

    return run_command(parser, _run, argv, errors=lambda: (DatasetExistsError, _MissingAtari), on_interrupt=on_interrupt)


class _MissingAtari(ModuleNotFoundError):
    """ale-py is not installed (the message names the optional extra)."""


def _run(args: argparse.Namespace) -> int:
    atari = args.subparser
    if args.list_games:
        print("\n".join(available_games()))
        return 0
    if len(args.resolution) > 2:
        atari.error(f"--resolution takes one or two numbers, got {args.resolution}")
    games = [g for g in args.games.split(",") if g.strip()]
    mode = "overwrite" if args.overwrite else "append" if args.append else "new"
    try:
        record_atari(
            args.out, games, episodes=args.episodes, steps=args.steps, frame_skip=args.frame_skip,
            resolution=(args.resolution[0], args.resolution[-1]), fps=args.fps, seed=args.seed,
            actions=args.actions, hold=tuple(args.hold), fire_on_reset=args.fire_on_reset,
            val_episodes=args.val_episodes, test_episodes=args.test_episodes,
            keyframe_interval=args.keyframe_interval, mode=mode, progress=not args.quiet,
            policy=args.policy, expert_epsilon=args.expert_epsilon, screen_delay=args.screen_delay,
        )
    except ModuleNotFoundError as err:
        if INSTALL_HINT not in str(err):
            raise
        raise _MissingAtari(str(err)) from err
    except DatasetExistsError:
        raise
    except ValueError as err:  # a setting record_atari refuses (unknown game, bad counts): a usage error
        atari.error(str(err))
    return 0
