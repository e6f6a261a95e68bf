"""The README's "Ablations" figures: the shipped studies (paper Tables 2 and 3) run with
``genie-lit study`` and their outputs committed under ``benchmarks/results/studies/<name>/``.

Runs ``genie-lit study configs/studies/<name>.yaml --out <work>/<name>`` (resumable: run the
same command again after a kill), then copies ``table.json``, ``table.md`` and ``curves.png``
into ``benchmarks/results/studies/<name>/`` with ``machine.json`` (the machine and its load).
Each study is sized for 2 seeds in under 90 minutes on 2 CPU cores (measured: lam_input 40 minutes, tokenizer 68):

    python benchmarks/studies.py tokenizer            # results/studies/tokenizer/
    python benchmarks/studies.py lam_input            # results/studies/lam_input/
    python benchmarks/studies.py tokenizer --device cuda --trainer configs/studies/overlays/gpu.yaml \
        --steps tokenizer=3000,world=3000 --name tokenizer_gpu
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from common import CONFIGS, RESULTS_DIR, finish, machine, run_genie_lit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", choices=sorted(p.stem for p in (CONFIGS / "studies").glob("*.yaml")))
    parser.add_argument("--work", type=Path, default=Path("runs/studies"), help="where the runs go (runs/studies)")
    parser.add_argument("--name", default=None, help="result folder name (default: the study's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", default=None)
    parser.add_argument("--steps", default=None)
    parser.add_argument("--trainer", action="append", default=[])
    args = parser.parse_args()
    name = args.name or args.study
    out = args.work / name
    command = ["study", str(CONFIGS / "studies" / f"{args.study}.yaml"), "--out", str(out), "--device", args.device]
    for flag, value in (("--seeds", args.seeds), ("--steps", args.steps)):
        if value:
            command += [flag, value]
    for overlay in args.trainer:
        command += ["--trainer", overlay]
    record = {"machine": machine(args.threads, args.device), "command": "genie-lit " + " ".join(command)}
    started = time.perf_counter()
    run_genie_lit(command, args.threads, out / "study.log")
    record["seconds_this_call"] = round(time.perf_counter() - started, 1)
    target = RESULTS_DIR / "studies" / name
    target.mkdir(parents=True, exist_ok=True)
    for file in ("table.json", "table.md", "curves.png"):
        if (out / file).is_file():
            shutil.copy2(out / file, target / file)
    print((target / "table.md").read_text())
    finish(record, target / "machine.json")


if __name__ == "__main__":
    main()
