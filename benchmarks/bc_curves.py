"""Learning curves of the behaviour-cloning policies that ``benchmarks/agents.py`` trained: the
held-out accuracy (``val/accuracy``: of the true actions for the oracle, of the LAM's codes for a
LAM policy, on the recording's validation episodes) at every validation, read from each fit's
``metrics.csv`` under the ``--work`` folders; a table of where each curve ends and a PNG.

    # the Pong policies of three seeds at 8,000 steps
    python benchmarks/bc_curves.py --work runs/bc8k_s0 runs/bc8k_s1 runs/bc8k_s2 \\
        --out benchmarks/results/bc_curves_pong.json

A curve continued from a checkpoint (``agents.py`` asked for more steps) is one curve: a step
logged twice keeps its later value.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from common import RESULTS_DIR, command, finish, machine, print_table

from genie_lit.curves import plot_overlay, read_curves

RESULTS = RESULTS_DIR / "bc_curves.json"


def collect(work: list[str], reach: float) -> list[dict]:
    """One entry per policy fit (``bc_*`` folders) of every game under each ``work`` folder."""
    entries = []
    for folder in map(Path, work):
        for metrics in sorted(folder.glob("*/bc_*/metrics.csv")):
            points = dict(read_curves(metrics).get("val/accuracy", []))  # a step logged twice keeps its later value
            if not points:
                continue
            steps = sorted(points)
            accuracy = [points[s] for s in steps]
            config = metrics.parent / "config.yaml"
            seed = yaml.safe_load(config.read_text()).get("seed_everything") if config.exists() else None
            best = max(range(len(accuracy)), key=accuracy.__getitem__)
            entries.append({
                "work": str(folder), "game": metrics.parent.parent.name, "policy": metrics.parent.name, "seed": seed,
                "steps": [int(s) for s in steps], "val_accuracy": accuracy, "final": accuracy[-1],
                "last_step": int(steps[-1]) + 1, "best": accuracy[best], "best_step": int(steps[best]) + 1,
                "reach": reach,
                "first_step_at_reach": next((int(s) + 1 for s, a in zip(steps, accuracy) if a >= reach), None)})
    return entries


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", nargs="+", required=True, help="benchmarks/agents.py --work folders")
    parser.add_argument("--reach", type=float, default=0.8, help="report the first validation at this accuracy")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    entries = collect(args.work, args.reach)
    if not entries:
        raise SystemExit(f"no policy fit (bc_*/metrics.csv with val/accuracy) under {args.work}")
    out = Path(args.out)
    record = {"command": command("bc_curves.py", argv), "machine": machine(1), "results": entries,
              "png": str(out.with_suffix(".png").name)}
    print_table(["game", "policy", "seed", "steps", "final accuracy", "best (step)", f"first step at {args.reach}"],
                [[e["game"], e["policy"], e["seed"], e["last_step"], f"{e['final']:.3f}",
                  f"{e['best']:.3f} ({e['best_step']})", e["first_step_at_reach"] or "never"] for e in entries])
    # one line per fit (seeds differ in length: a band over them would keep only their common steps)
    groups = {f"{e['game']} {e['policy']} seed {e['seed']}": [{"val/accuracy": list(zip(e["steps"], e["val_accuracy"]))}]
              for e in entries}
    plot_overlay(groups, out.with_suffix(".png"), "held-out accuracy of the behaviour-cloning policies",
                 metrics=["val/accuracy"])
    finish(record, out)
    return record


if __name__ == "__main__":
    main()
