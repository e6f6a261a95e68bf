"""What more compute buys: the quickstart world at 0.5x, 1x and 2x its default steps, and larger.

Trains the quickstart's world stage (``genie-lit quickstart``, everything default but
``--world-steps``) at each ``--scales`` multiple of the default world steps, and once with a
larger dynamics model (``configs/quickstart/world_large.yaml``) at the default steps, all over
the same recording and trained tokenizer (the 1x run's), and evaluates each on the held-out test
episodes. Runs go through :mod:`quickstart_runs` (finished runs are not run again; a killed one
resumes). Writes ``results/<name>.json`` with every figure per run, a markdown table, and
``results/<name>.png``: each figure against world steps and against steps x trainable parameters
(the training compute, up to a constant), so a user can read what more steps or a larger model buy.
The world stage's wall-clock seconds are in the table and the JSON, but a run that shared the
machine with other jobs took longer than its compute says: compare compute, not seconds.

    python benchmarks/budget_scaling.py --games battle_zone,private_eye,tutankham \\
        --runs quickstart_new_games --work /work/runs          # -> results/budget_scaling.{json,png}
"""

from __future__ import annotations

import argparse
from pathlib import Path

import quickstart_runs
from common import CONFIGS, RESULTS_DIR, command, finish, machine, print_table

LARGE = CONFIGS / "quickstart" / "world_large.yaml"
PLOTTED = (("next_frame_gain", "next frame vs copy (dB)"), ("delta_psnr", "Δ4PSNR (dB)"),
           ("action_nmi", "latent-action NMI"), ("few_shot_accuracy", "200-shot accuracy"))


def run(args: argparse.Namespace) -> list[dict]:
    common = ["--seeds", str(args.seed), "--games", args.games, "--work", args.work, "--parallel", str(args.parallel),
              "--threads", str(args.threads)]
    base = quickstart_runs.main([*common, "--name", args.runs, "--scale", *map(str, args.scales),
                                 "--out", str(Path(args.work) / args.runs / "budget_scaling.json")])
    rows = [dict(r, model="default") for r in base["results"]]
    if not args.no_large:
        source = quickstart_runs.folder(argparse.Namespace(work=args.work, name=args.runs), args.seed, 1.0)
        large = quickstart_runs.main([*common, "--name", f"{args.runs}_large", "--tokenizer-from", str(source),
                                      "--out", str(Path(args.work) / f"{args.runs}_large" / "budget_scaling.json"),
                                      "--", "--world-config", str(LARGE)])
        rows += [dict(r, model="large") for r in large["results"]]
    return rows


def compute(row: dict) -> float:
    """The world stage's training compute, up to a constant: steps x trainable parameters. Used instead
    of wall-clock, which on a shared machine measures the other jobs as much as the run."""
    return float(row["world_steps"]) * float(row["world_parameters"])


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(PLOTTED), figsize=(4 * len(PLOTTED), 7))
    for col, (key, title) in enumerate(PLOTTED):
        for row, (x, x_label) in enumerate(((lambda r: r["world_steps"], "world optimizer steps"),
                                            (compute, "world steps × trainable parameters (∝ compute)"))):
            ax = axes[row, col]
            base = sorted((r for r in rows if r["model"] == "default"), key=x)
            ax.plot([x(r) for r in base], [r.get(key) for r in base], "o-", label="quickstart model")
            for r in rows:
                if r["model"] == "large":
                    ax.plot(x(r), r.get(key), "s", color="C3", label=f"larger dynamics ({r['world_parameters']:,} params)")
            if key == "few_shot_accuracy" and base and base[0].get("few_shot_chance") is not None:
                ax.axhline(base[0]["few_shot_chance"], color="grey", ls=":", label="majority chance")
            if key == "action_nmi" and base and base[0].get("action_nmi_chance") is not None:
                ax.axhline(base[0]["action_nmi_chance"], color="grey", ls=":", label="chance")
            if key in ("next_frame_gain", "delta_psnr"):
                ax.axhline(0, color="grey", ls=":")
            ax.set_xlabel(x_label)
            ax.set_title(title)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", default=quickstart_runs.DEFAULT_GAMES)
    parser.add_argument("--runs", default="quickstart_runs", help="the quickstart_runs.py --name whose 1x run "
                        "(seed --seed) supplies the recording and tokenizer (run if missing)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--no-large", action="store_true", help="skip the larger model")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", default="runs")
    parser.add_argument("--name", default="budget_scaling", help="results/<name>.json and .png")
    args = parser.parse_args(argv)
    record = {"command": command("budget_scaling.py", argv), "machine": machine(args.threads),
              "setup": {"games": args.games, "seed": args.seed, "scales": args.scales, "large_config": LARGE.name,
                        "split": "test", "note": "one seed per budget; the same recording and tokenizer for all"}}
    rows = run(args)
    record["results"] = rows
    print_table(["model", "world steps", "parameters", "world s", "next frame vs copy", "Δ4PSNR", "NMI (chance)",
                 "200-shot (chance)"],
                [[r["model"], r["world_steps"], f"{r['world_parameters']:,}", f"{r['world_seconds']:.0f}",
                  f"{r['next_frame_gain']:+.2f}", f"{r['delta_psnr']:.2f}",
                  f"{r['action_nmi']:.3f} ({r['action_nmi_chance']:.3f})",
                  f"{r['few_shot_accuracy']:.3f} ({r['few_shot_chance']:.3f})"] for r in rows])
    png = RESULTS_DIR / f"{args.name}.png"
    plot(rows, png)
    record["png"] = png.name
    finish(record, RESULTS_DIR / f"{args.name}.json")
    return record


if __name__ == "__main__":
    main()
