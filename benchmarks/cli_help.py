"""How long ``genie-lit <command> --help`` takes, and what it imports.

Each command's ``--help`` runs in a fresh Python process (what a user waits for, interpreter start
included), the commands interleaved round after round; the table gives the median wall time and
whether the process loaded torch or Lightning. ``fit --help`` (the LightningCLI, which needs
Lightning to know its options) is the reference. Writes ``benchmarks/results/cli_help.json``.

    python benchmarks/cli_help.py [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import quick_out

RESULTS = Path(__file__).resolve().parent / "results" / "cli_help.json"
COMMANDS = ["record", "play", "evaluate", "curves", "quickstart", "fit"]

# the child: run `genie-lit <command> --help` in-process, then say which heavy packages it loaded
CHILD = """
import contextlib, io, json, sys
from genie_lit.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        code = main([sys.argv[1], "--help"])
    except SystemExit as exit:
        code = exit.code
print(json.dumps({"code": code or 0, "help_lines": out.getvalue().count("\\n"),
                  "torch": "torch" in sys.modules, "lightning": "lightning" in sys.modules}))
"""


def run_once(command: str) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, command], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "seconds": seconds}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each command, interleaved (5)")
    parser.add_argument("--quick", action="store_true", help="2 rounds (for the tests)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON to write ({RESULTS})")
    args = parser.parse_args(argv)
    args.out = quick_out(args.out, args.quick)
    rounds = 2 if args.quick else args.rounds
    start_load = list(os.getloadavg())
    runs: dict[str, list[dict]] = {command: [] for command in COMMANDS}
    for _ in range(rounds):
        for command in COMMANDS:
            runs[command].append(run_once(command))
    results = []
    for command, done in runs.items():
        times = [r["seconds"] for r in done]
        results.append({"command": f"genie-lit {command} --help", "exit_code": done[0]["code"],
                        "help_lines": done[0]["help_lines"], "median_s": statistics.median(times),
                        "min_s": min(times), "max_s": max(times), "n": len(times),
                        "imports_torch": done[0]["torch"], "imports_lightning": done[0]["lightning"]})
    record = {"command": "python benchmarks/cli_help.py" + (" --quick" if args.quick else ""),
              "machine": {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
                          "load_average_at_start": start_load, "load_average_at_end": list(os.getloadavg())},
              "setup": {"rounds": rounds, "statistic": "median wall time of a fresh process, commands interleaved"},
              "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{'command':<32} {'median s':>9} {'torch':>6} {'lightning':>10}")
    for r in results:
        print(f"{r['command']:<32} {r['median_s']:>9.2f} {str(r['imports_torch']):>6} {str(r['imports_lightning']):>10}")
    print(f"wrote {args.out}")
    return record


if __name__ == "__main__":
    main()
