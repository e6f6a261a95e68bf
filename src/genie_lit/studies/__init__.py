"""``genie-lit study STUDY.yaml --out DIR``: an ablation as one command (Bruce et al., 2024, Tables 2 and 3).

A study (:mod:`genie_lit.studies.spec`) names a base config per training phase, variants as YAML
overlays, seeds and step budgets. Every variant x seed runs through ``genie-lit fit``
(:mod:`genie_lit.studies.runner`), phases chained (a tokenizer variant's checkpoint feeds its world),
then is evaluated on held-out episodes (:mod:`genie_lit.studies.evaluate`). The command writes
``DIR/table.md`` and ``DIR/table.json`` (:mod:`genie_lit.studies.table`: our figures with 95%
intervals over seeds and clips, the paper's beside them) and ``DIR/curves.png`` (FVD and ΔtPSNR
against step, one colour per variant, a band over seeds). Run it again after a kill: finished runs
are skipped, an unfinished one resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genie_lit.commands import new_parser, resolve_device, run_command

EPILOG = """examples:
  genie-lit study configs/studies/tokenizer.yaml --out runs/study_tokenizer
  genie-lit study configs/studies/lam_input.yaml --out runs/study_lam --seeds 0,1,2
  genie-lit study configs/studies/tokenizer.yaml --out runs/gpu --device cuda \\
      --trainer configs/studies/gpu.yaml --steps tokenizer=3000,world=2000
Add a variant: one YAML overlay (only the lines that differ) named under 'variants' in the study file.
TensorBoard: tensorboard --logdir DIR/runs (one folder per variant/seed/phase).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser("study", "Train every variant x seed of an ablation study, evaluate each on held-out "
                        "episodes and write DIR/table.md, DIR/table.json and DIR/curves.png.", EPILOG, device=True)
    parser.add_argument("study", type=Path, help="study YAML (e.g. configs/studies/tokenizer.yaml)")
    parser.add_argument("--out", required=True, type=Path, help="study folder (data, runs, eval, table, curves)")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds instead of the study's (e.g. 0,1,2)")
    parser.add_argument("--steps", default=None, metavar="PHASE=N[,PHASE=N]",
                        help="optimizer steps per phase instead of the study's (e.g. tokenizer=400,world=300)")
    parser.add_argument("--trainer", action="append", default=[], metavar="YAML",
                        help="trainer overlay for every run, e.g. configs/trainer/ddp.yaml (repeatable)")
    parser.add_argument("--data", type=Path, default=None, help="video folder instead of the study's data")
    parser.add_argument("--table-only", action="store_true",
                        help="train nothing: write the table and curves of the runs finished so far")
    return parser


def main(argv: list[str] | None = None) -> int:
    from genie_lit.studies.spec import StudyError

    return run_command(build_parser(), _run, argv, errors=lambda: (StudyError, FileNotFoundError),
                       on_interrupt=lambda args: f"interrupted: run the same command again to continue in {args.out}")


def _run(args: argparse.Namespace) -> int:
    from genie_lit.studies.spec import StudyError, load_study, parse_steps

    try:
        seeds = None if args.seeds is None else [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError as err:
        raise StudyError(f"--seeds takes comma-separated integers, got {args.seeds!r}") from err
    study = load_study(args.study, parse_steps(args.steps), seeds, args.trainer)
    if args.data is not None:
        study.data_dir = args.data.resolve()
    device = resolve_device(args.device)
    from genie_lit.studies.runner import Runner, say

    runner = Runner(study, args.out, "gpu" if device.type == "cuda" else "cpu", quiet=args.quiet)
    if not args.table_only:
        runner.run(str(device))
    table_json, table_md, curves = write_outputs(runner)
    say(f"table: {table_md} ({table_json}); curves: {curves or 'none (no run logged FVD or ΔtPSNR)'}")
    return 0


def write_outputs(runner) -> tuple[Path, Path, Path | None]:
    """``table.json``, ``table.md`` and ``curves.png`` of the runs finished so far."""
    from genie_lit.curves import plot_overlay, read_curves
    from genie_lit.studies.table import summarise, write_table

    study = runner.study
    table = summarise(runner.results(), study.evaluation)
    described = {"name": study.name, "file": str(study.path), "seeds": study.seeds,
                 "phases": {p.name: p.steps for p in study.phases}, "evaluation": study.evaluation,
                 "data": str(runner.data_dir)}
    table_json, table_md = write_table(runner.out, described, table, study.paper)
    last = study.phases[-1].name
    groups = {}
    for variant in study.variants:
        runs = [runner.run_folder(variant, seed, last) / "metrics.csv" for seed in study.seeds]
        runs = [read_curves(path) for path in runs if path.is_file()]
        if runs:
            groups[variant] = runs
    curves = None
    if groups:
        try:
            title = f"study {study.name}: mean over seeds, band = range"
            curves = plot_overlay(groups, runner.out / "curves.png", title)
        except ValueError:
            curves = None
    return table_json, table_md, curves
