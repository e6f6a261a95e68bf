"""Seconds per step of the quickstart's training stages for each torch thread count and data-loader
worker count, on a finished quickstart's recording and tokenizer.

Each setting runs the stage exactly as ``genie-lit quickstart`` does (its ``genie-lit fit``
arguments, from :func:`genie_lit.quickstart.pipeline.fit_args`), in a fresh process, twice: for
``--short`` and for ``--long`` optimizer steps; seconds per step = (long − short wall time) /
(long − short steps), so start-up, the sanity check and the first checkpoint cancel. Settings run
in rounds (every setting once per round), so a slow phase of the machine hits all alike. With 2
cores, 2 torch threads and a loader worker make three busy threads on two cores.

    python benchmarks/stage_threads.py --run runs/quickstart         # results/stage_threads.json
    python benchmarks/stage_threads.py --run runs/quickstart --stage tokenizer --settings 1x1 2x1 2x0
    python benchmarks/stage_threads.py --run runs/quickstart --stage decoder --settings 2x1
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS_DIR, command, finish, machine, print_table, run_genie_lit
from genie_lit.quickstart import world_precision
from genie_lit.quickstart.pipeline import fit_args, packaged_config

RESULTS = RESULTS_DIR / "stage_threads.json"


def stage_args(stage: str, run: Path, root: Path, steps: int, workers: int, precision: str) -> list[str]:
    """The quickstart's ``genie-lit fit`` arguments of ``stage`` (default settings, seed 0), into
    ``root``; the world stage at ``precision`` (the tokenizer's is always 32-bit)."""
    if stage in ("tokenizer", "decoder"):
        component, extra, overrides = ([packaged_config("tokenizer", "st_vivit.yaml")],
                                       [packaged_config("quickstart", "tokenizer.yaml")], [])
        if stage == "decoder":  # the decoder phase, from the run's tokenizer
            extra.append(packaged_config("tokenizer", "decoder.yaml"))
            overrides = ["--model.init_args.init_from", str(run / "tokenizer" / "checkpoints" / "last.ckpt")]
    else:
        component, extra = [packaged_config("genie", "cotrain.yaml")], [packaged_config("quickstart", "world.yaml")]
        overrides = ["--trainer.precision", precision,
                     "--model.tokenizer_ckpt", str(run / "tokenizer" / "checkpoints" / "last.ckpt")]
    overrides = ["--seed_everything", "0", *overrides, "--data.num_workers", str(workers),
                 "--trainer.enable_progress_bar", "false"]
    return fit_args(component, extra, run / "data", root, steps, None, "cpu", overrides, label=f"{stage} timing")


def timed_fit(stage: str, run: Path, steps: int, threads: int, workers: int, work: Path, precision: str) -> float:
    root = Path(tempfile.mkdtemp(dir=work))
    start = time.perf_counter()
    run_genie_lit(stage_args(stage, run, root, steps, workers, precision), threads,
                  work / f"{stage}_{threads}x{workers}.log")
    seconds = time.perf_counter() - start
    shutil.rmtree(root, ignore_errors=True)
    return seconds


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished quickstart (its data/ and tokenizer/)")
    parser.add_argument("--stage", choices=("world", "tokenizer", "decoder"), default="world")
    parser.add_argument("--settings", nargs="+", default=["2x1", "1x1", "2x0", "1x0"],
                        help="THREADSxWORKERS settings (2x1: 2 torch threads, 1 loader worker: the quickstart's)")
    parser.add_argument("--short", type=int, default=10)
    parser.add_argument("--long", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--precision", choices=("auto", "bf16", "32"), default="auto",
                        help="the world stage's, as genie-lit quickstart --precision (auto: bf16 where native)")
    parser.add_argument("--work", type=Path, default=Path("runs/stage_threads"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    precision = world_precision(args.precision, "cpu")[0]
    settings = [tuple(int(x) for x in s.split("x")) for s in args.settings]
    record = {"command": command("stage_threads.py", argv),
              "machine": machine(sorted({t for t, _ in settings}))}
    per_step: dict[tuple[int, int], list[float]] = {s: [] for s in settings}
    for _ in range(args.rounds):
        for threads, workers in settings:
            short = timed_fit(args.stage, args.run, args.short, threads, workers, args.work, precision)
            long = timed_fit(args.stage, args.run, args.long, threads, workers, args.work, precision)
            per_step[(threads, workers)].append((long - short) / (args.long - args.short))
    reference = float(np.mean(per_step[settings[0]]))
    results = [{"threads": t, "workers": w, "seconds_per_step": float(np.mean(v)), "rounds": v,
                "speedup_vs_first": reference / float(np.mean(v))} for (t, w), v in per_step.items()]
    record["setup"] = {"stage": args.stage, "run": str(args.run), "short": args.short, "long": args.long,
                       "rounds": args.rounds, "first_setting": args.settings[0],
                       "precision": precision if args.stage == "world" else "32-true",
                       "statistic": "(long - short wall seconds) / (long - short steps), mean over rounds"}
    record["results"] = results
    print_table(["threads", "loader workers", "s/step", f"speed-up vs {args.settings[0]}"],
                [[r["threads"], r["workers"], f"{r['seconds_per_step']:.2f}", f"x{r['speedup_vs_first']:.2f}"]
                 for r in results])
    finish(record, args.out)
    return record


if __name__ == "__main__":
    main()
