"""The README's quickstart figures: ``genie-lit quickstart`` over seeds, other games and budgets.

Runs the exact quickstart command once per seed (``--seeds``), each in its own folder under
``--work``, ``--parallel`` at a time with ``--threads`` each, and collects the figures of every
run's ``report.json`` and ``eval/eval.json`` (held-out test episodes): mean, std and the 95%
confidence interval over seeds (Student's t) of each, and per game. A finished run (its
``report.json`` exists) is not run again; a killed one resumes, as the quickstart does.

- ``--games`` records other games with the same command (games no setting was tuned on);
- ``--scale`` multiplies the default *world* steps (budget scaling); the tokenizer of the run
  with the same seed at scale 1 is reused when it exists, so only the world stage is retrained;
- ``--share-tokenizer SEED``: the other seeds start from that seed's recording and trained
  tokenizer (waiting for it) and vary only the world stage's seed, which saves the tokenizer's
  steps on a small machine; the JSON says so;
- ``--tokenizer-from DIR``: every run starts from the recording and trained tokenizer of the
  finished quickstart in ``DIR`` (e.g. a larger world over the same tokenizer).

    python benchmarks/quickstart_runs.py --seeds 0 1 2 --parallel 2           # results/quickstart_runs.json
    python benchmarks/quickstart_runs.py --seeds 0 1 --games space_invaders,freeway --name unseen_games
    python benchmarks/quickstart_runs.py --seeds 0 --scale 0.5 2 --name budget_scaling
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy import stats

from common import RESULTS_DIR, command, finish, machine, print_table, run_genie_lit
from genie_lit.data.atari import DEFAULT_GAMES  # the quickstart's games

FIGURES = ("tokenizer_psnr", "next_frame_psnr_inferred", "next_frame_psnr_copy", "next_frame_gain",
           "next_frame_psnr_random", "delta_psnr", "action_nmi", "action_nmi_chance", "few_shot_accuracy",
           "few_shot_chance", "consistency", "consistency_baseline", "rollout_recognisable_frames",
           "rollout_recognisable_share_last", "world_seconds", "tokenizer_seconds", "decoder_seconds")


def folder(args: argparse.Namespace, seed: int, scale: float) -> Path:
    return Path(args.work) / args.name / (f"seed{seed}" + ("" if scale == 1 else f"_x{scale:g}"))


def run_one(seed: int, scale: float, args: argparse.Namespace) -> dict:
    out = folder(args, seed, scale)
    if not (out / "report.json").exists():
        from genie_lit.quickstart.pipeline import DEFAULT_STEPS

        cmd = ["quickstart", "--out", str(out), "--seed", str(seed), "--games", args.games,
               "--world-steps", str(int(round(DEFAULT_STEPS["world"] * scale))), "--threads", str(args.threads),
               *args.extra]
        if args.tokenizer_from is not None:
            reuse_tokenizer(args.tokenizer_from, out)
        elif scale != 1:
            reuse_tokenizer(folder(args, seed, 1.0), out)
        elif args.share_tokenizer is not None and seed != args.share_tokenizer:
            source = folder(args, args.share_tokenizer, 1.0)
            while not tokenizer_done(source):
                time.sleep(30)
            reuse_tokenizer(source, out)
        run_genie_lit(cmd, args.threads, out / "log.txt")
    return collect(out, seed, scale)


def tokenizer_stages(run: Path) -> tuple[str, ...] | None:
    """The finished stages up to the tokenizer a world trains over (``decoder`` too when the run has
    that phase), or None while they are not all finished."""
    try:
        state = json.loads((run / "quickstart.json").read_text())
    except (OSError, ValueError):
        return None
    stages = state.get("stages", {})
    wanted = ("record", "tokenizer", "decoder") if "decoder" in stages or (
        state.get("settings", {}).get("training_steps", {}).get("decoder")) else ("record", "tokenizer")
    return wanted if all(stages.get(s, {}).get("done") for s in wanted) else None


def tokenizer_done(run: Path) -> bool:
    return tokenizer_stages(run) is not None


def reuse_tokenizer(source: Path, out: Path) -> None:
    """Start ``out`` from ``source``'s recording and trained tokenizer, with its decoder phase when it
    has one (stages marked done)."""
    wanted = tokenizer_stages(source)
    if (out / "quickstart.json").exists() or wanted is None:
        return
    state = json.loads((source / "quickstart.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source / "data", out / "data")
    for stage in wanted[1:]:
        shutil.copytree(source / stage, out / stage)
    state["stages"] = {s: state["stages"][s] for s in wanted}
    (out / "quickstart.json").write_text(json.dumps(state, indent=1))


def collect(out: Path, seed: int, scale: float) -> dict:
    report = json.loads((out / "report.json").read_text())
    evaluation = json.loads((out / "eval" / "eval.json").read_text())
    f = report["figures"]
    stages = report["stages"]
    games = {game: {"nmi": g["nmi"], "nmi_chance": g["nmi_chance"], "transitions": g["labelled"],
                    "few_shot": (g["few_shot"] or {}).get("accuracy"), "few_shot_chance": (g["few_shot"] or {}).get("chance")}
             for game, g in evaluation["latent_actions"]["games"].items()}
    return {"seed": seed, "scale": scale, "folder": str(out), "world_steps": stages["world"].get("global_step"),
            "tokenizer_steps": stages["tokenizer"].get("global_step"),
            "world_parameters": stages["world"].get("parameters"),
            **{k: f.get(k) for k in FIGURES if k in f},
            "next_frame_gain": f["next_frame_psnr_inferred"] - f["next_frame_psnr_copy"],
            "world_seconds": stages["world"]["seconds"], "tokenizer_seconds": stages["tokenizer"]["seconds"],
            "decoder_steps": stages.get("decoder", {}).get("global_step"),
            "decoder_seconds": stages.get("decoder", {}).get("seconds"),
            "games": games, "horizon": evaluation.get("horizon") or evaluation["rollouts"].get("horizon")}


def summarise(values: list[float]) -> dict:
    """Mean, std and 95% CI over seeds (t-distribution; the CI is the mean alone for one seed)."""
    v = np.array([x for x in values if x is not None], dtype=float)
    if not len(v):
        return {"mean": None, "std": None, "ci95": None, "n": 0}
    std = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    half = float(stats.t.ppf(0.975, len(v) - 1) * std / np.sqrt(len(v))) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "std": std, "ci95": [float(v.mean() - half), float(v.mean() + half)], "n": len(v)}


def aggregate(runs: list[dict]) -> dict:
    out = {}
    for scale in sorted({r["scale"] for r in runs}):
        mine = [r for r in runs if r["scale"] == scale]
        entry = {key: summarise([r.get(key) for r in mine]) for key in FIGURES}
        games = sorted({g for r in mine for g in r["games"]})
        entry["games"] = {g: {k: summarise([r["games"][g][k] for r in mine if g in r["games"]])
                              for k in ("nmi", "nmi_chance", "few_shot", "few_shot_chance")} for g in games}
        entry["world_steps"] = mine[0]["world_steps"]
        out[f"x{scale:g}"] = entry
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--games", default=DEFAULT_GAMES)
    parser.add_argument("--scale", type=float, nargs="+", default=[1.0], help="world-step multipliers (1)")
    parser.add_argument("--name", default="quickstart_runs", help="results/<name>.json and the work sub-folder")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--share-tokenizer", type=int, metavar="SEED",
                        help="other seeds reuse this seed's recording and tokenizer (only the world varies)")
    parser.add_argument("--tokenizer-from", type=Path, metavar="DIR",
                        help="every run reuses the recording and tokenizer of this finished quickstart folder")
    parser.add_argument("--work", default="runs")
    parser.add_argument("--out", type=Path)
    parser.add_argument("extra", nargs="*", help="more quickstart arguments, after --")
    args = parser.parse_args(argv)
    out = args.out or RESULTS_DIR / f"{args.name}.json"
    record = {"command": command("quickstart_runs.py", argv), "machine": machine(args.threads),
              "setup": {"seeds": args.seeds, "games": args.games, "scales": args.scale, "extra": args.extra,
                        "shared_tokenizer_seed": args.share_tokenizer,
                        "tokenizer_from": None if args.tokenizer_from is None else str(args.tokenizer_from),
                        "split": "test", "ci": "95% over seeds, Student's t"}}
    jobs = [(s, k) for k in args.scale for s in args.seeds]
    jobs.sort(key=lambda job: job[1] != 1)  # scale 1 first: its tokenizers are reused
    with ThreadPoolExecutor(args.parallel) as pool:
        runs = list(pool.map(lambda job: run_one(*job, args), jobs))
    record["results"], record["summary"] = runs, aggregate(runs)
    rows = []
    for scale, s in record["summary"].items():
        cell = lambda k: "n/a" if s[k]["mean"] is None else f"{s[k]['mean']:.3f} ± {s[k]['std']:.3f}"  # noqa: E731
        rows.append([scale, s["world_steps"], s["delta_psnr"]["n"], cell("tokenizer_psnr"), cell("next_frame_gain"),
                     cell("delta_psnr"), f"{cell('action_nmi')} ({s['action_nmi_chance']['mean']:.3f})",
                     f"{cell('few_shot_accuracy')} ({s['few_shot_chance']['mean']:.3f})"])
    print_table(["scale", "world steps", "seeds", "tokenizer PSNR", "next frame vs copy", "Δ4PSNR", "NMI (chance)",
                 "200-shot (chance)"], rows)
    finish(record, out)
    return record


if __name__ == "__main__":
    main()
