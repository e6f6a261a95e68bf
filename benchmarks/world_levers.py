"""Which levers make the quickstart world learn? Co-training variants, same data, same steps, seeds.

Each variant is the quickstart's world stage (``configs/genie/cotrain.yaml`` + the CPU trainer +
``configs/quickstart/{atari_data,world}.yaml``) plus a few ``genie-lit fit`` overrides, trained
for ``--steps`` optimizer steps over one frozen tokenizer (``--tokenizer``, e.g. a quickstart's
``tokenizer/checkpoints/last.ckpt``) on a ``genie-lit record atari`` recording (``--data``), then
scored by ``genie-lit evaluate`` on the held-out test episodes: next-frame PSNR against copying
the last frame, Δ4PSNR, latent-action NMI and 200-shot accuracy against their chance levels.
Budgets are steps, so the figures do not depend on the machine's speed; each figure is the mean
(and std) over ``--seeds``. Runs go ``--parallel`` at a time with ``--threads`` each, as separate
``genie-lit`` processes; a finished run (its eval.json exists) is not run again.

    python benchmarks/world_levers.py --data runs/qs/data --tokenizer runs/qs/tokenizer/checkpoints/last.ckpt \
        --steps 400 --seeds 0 --parallel 2 --variants paper copy_prior     # -> results/world_levers.json
    python benchmarks/world_levers.py --quick          # smoke test: tiny models, a few steps
"""

from __future__ import annotations

import argparse
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from common import CONFIGS, REPO, RESULTS_DIR, command, finish, machine, print_table, quick_out, run_genie_lit

RESULTS = RESULTS_DIR / "world_levers.json"
WORK = "runs/world_levers"
DYN, LAM = "--model.init_args.dynamics.init_args.", "--model.init_args.lam.init_args."
BF16, FP32 = ["--trainer.precision", "bf16-mixed"], ["--trainer.precision", "32-true"]
PAPER = [DYN + "copy_prior", "false", DYN + "change_weight", "0", LAM + "search.inference", "encoder"]
COPY = [DYN + "copy_prior", "true", DYN + "change_weight", "0", LAM + "search.inference", "encoder"]
# variant -> genie-lit fit overrides on top of the quickstart's world stage
VARIANTS: dict[str, list[str]] = {
    "paper": [*PAPER, *BF16],  # the dynamics as in the paper: no copy prior, every masked token weighs the same
    "copy_prior": [*COPY, *BF16],
    "copy_prior_fp32": [*COPY, *FP32],  # what bf16 autocast changes
    "copy_prior_change5": [*COPY, *BF16, DYN + "change_weight", "5"],
    "copy_prior_search_inference": [*COPY, *BF16, LAM + "search.inference", "search"],
    "shipped": [],  # the configs as they are
}
FIGURES = ("next_frame_psnr", "copy_psnr", "next_frame_gain", "random_action_psnr", "delta_psnr", "nmi", "nmi_chance",
           "few_shot", "few_shot_chance", "lam_psnr")


def world_configs(quick: bool) -> list[str]:
    configs = [CONFIGS / "genie" / "cotrain.yaml", CONFIGS / "trainer" / "cpu.yaml",
               CONFIGS / "quickstart" / "atari_data.yaml", CONFIGS / "quickstart" / "world.yaml"]
    if quick:
        configs.append(REPO / "tests" / "configs" / "tiny_cotrain.yaml")
    return [str(c) for c in configs]


def run_one(variant: str, seed: int, args: argparse.Namespace) -> dict:
    root = Path(args.work) / variant / f"seed{seed}"
    eval_json = root / "eval" / "eval.json"
    if not eval_json.exists():
        root.mkdir(parents=True, exist_ok=True)
        fit = ["fit", *sum((["--config", c] for c in world_configs(args.quick)), []),
               "--data.data_dir", args.data, "--trainer.default_root_dir", str(root),
               "--trainer.max_steps", str(args.steps), "--trainer.val_check_interval", str(args.steps),
               "--trainer.enable_progress_bar", "false", "--seed_everything", str(seed),
               "--model.tokenizer_ckpt", args.tokenizer, *VARIANTS[variant]]
        if (root / "checkpoints" / "last.ckpt").exists():
            fit += ["--ckpt_path", "last"]
        run_genie_lit(fit, args.threads, root / "log.txt")
        run_genie_lit(["evaluate", "--ckpt", str(root / "checkpoints" / "last.ckpt"), "--data", args.data,
                   "--out", str(root / "eval"), "--max-clips", str(args.eval_clips), "--no-fvd", "--seed", str(seed),
                   "--threads", str(args.threads)], args.threads, root / "log.txt")
    return {"variant": variant, "seed": seed, **figures(json.loads(eval_json.read_text()))}


def figures(r: dict) -> dict:
    """The figures of one ``eval.json`` that say whether the world learned."""
    nf, la = r["next_frame"], r["latent_actions"]["mean"]
    return {"next_frame_psnr": nf["psnr_dynamics_inferred"], "copy_psnr": nf["psnr_copy_previous"],
            "next_frame_gain": nf["psnr_dynamics_inferred"] - nf["psnr_copy_previous"],
            "random_action_psnr": nf["psnr_dynamics_random"], "delta_psnr": r["rollouts"]["delta_psnr"],
            "nmi": la["nmi"], "nmi_chance": la["nmi_chance"], "few_shot": la["few_shot_accuracy"],
            "few_shot_chance": la["few_shot_chance"], "lam_psnr": nf["psnr_lam"],
            "per_game_nmi": {g: v["nmi"] for g, v in r["latent_actions"]["games"].items()}}


def aggregate(runs: list[dict]) -> dict:
    """Mean and std (over seeds) of every figure, per variant."""
    out: dict = {}
    for variant in dict.fromkeys(r["variant"] for r in runs):
        mine = [r for r in runs if r["variant"] == variant]
        out[variant] = {"seeds": [r["seed"] for r in mine]}
        for key in FIGURES:
            values = np.array([r[key] for r in mine if r[key] is not None], dtype=float)
            out[variant][key] = {"mean": float(values.mean()) if len(values) else None,
                                 "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
    return out


def cell(variant: dict, key: str, std: bool = True) -> str:
    value = variant[key]
    if value["mean"] is None:
        return "n/a"
    return f"{value['mean']:.3f}" + (f" ± {value['std']:.3f}" if std else "")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="a genie-lit record atari recording with test episodes")
    parser.add_argument("--tokenizer", help="the frozen tokenizer checkpoint every variant trains over")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=400, help="optimizer steps per run (400)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--eval-clips", type=int, default=32)
    parser.add_argument("--parallel", type=int, default=2, help="runs at once (2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (1)")
    parser.add_argument("--work", default=WORK, help="run folders (kept: finished runs are reused)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny models and data made here")
    args = parser.parse_args(argv)
    args.out = quick_out(args.out, args.quick)
    if args.quick:
        args.steps, args.eval_clips, args.seeds, args.variants = 3, 2, [0], ["paper", "copy_prior"]
        args.parallel = 1
        if args.work == WORK:
            args.work = tempfile.mkdtemp(prefix="world_levers_quick_")
        quick_inputs(args)
    if not (args.data and args.tokenizer):
        parser.error("--data and --tokenizer are required (or --quick)")
    record = {"command": command("world_levers.py", argv), "machine": machine(args.threads),
              "setup": {"steps": args.steps, "seeds": args.seeds, "eval_clips": args.eval_clips, "data": args.data,
                        "tokenizer": args.tokenizer, "configs": world_configs(args.quick),
                        "variants": {v: VARIANTS[v] for v in args.variants}, "split": "test"}}
    jobs = [(v, s) for s in args.seeds for v in args.variants]
    with ThreadPoolExecutor(args.parallel) as pool:
        runs = list(pool.map(lambda job: run_one(*job, args), jobs))
    record["results"], record["variants"] = runs, aggregate(runs)
    rows = []
    for variant, v in record["variants"].items():
        rows.append([variant, len(v["seeds"]), cell(v, "next_frame_psnr"), cell(v, "next_frame_gain"),
                     cell(v, "delta_psnr"), f"{cell(v, 'nmi')} ({cell(v, 'nmi_chance', std=False)})",
                     f"{cell(v, 'few_shot')} ({cell(v, 'few_shot_chance', std=False)})"])
    print_table(["variant", "seeds", "next-frame PSNR", "vs copy", "Δ4PSNR", "NMI (chance)", "200-shot (chance)"], rows)
    finish(record, args.out)
    return record


def quick_inputs(args: argparse.Namespace) -> None:
    """A tiny recording and a tiny tokenizer for the smoke test."""
    work = Path(args.work) / "quick"
    args.work, args.data = str(work), str(work / "data")
    tokenizer = work / "tokenizer" / "checkpoints" / "last.ckpt"
    args.tokenizer = str(tokenizer)
    if not (work / "data" / "manifest.json").exists():
        run_genie_lit(["record", "atari", "--games", "pong", "--episodes", "3", "--steps", "40", "--test-episodes", "1",
                   "--out", args.data, "--quiet"], 1, work / "log.txt")
    if not tokenizer.exists():
        configs = [CONFIGS / "tokenizer" / "st_vivit.yaml", CONFIGS / "trainer" / "cpu.yaml",
                   CONFIGS / "quickstart" / "atari_data.yaml", REPO / "tests" / "configs" / "tiny_tokenizer.yaml"]
        run_genie_lit(["fit", *sum((["--config", str(c)] for c in configs), []), "--data.data_dir", args.data,
                   "--trainer.default_root_dir", str(work / "tokenizer"), "--trainer.max_steps", "3"], 1,
                  work / "log.txt")


if __name__ == "__main__":
    main()
