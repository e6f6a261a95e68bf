"""The ``genie-lit`` entry point.

``genie-lit fit|validate|test|predict`` is a subclass-mode LightningCLI (:mod:`genie_lit.training`):
any LightningModule and LightningDataModule named by ``class_path`` in YAML. The same :func:`main`
is the console script, ``python -m genie_lit`` and the test harness. The other subcommands
(``record``, ``play``, ...) share one layout (:mod:`genie_lit.commands`) and are imported only when
called, so ``genie-lit <command> --help`` does not load torch or Lightning.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

# subcommands beside Lightning's: (module with build_parser() and main(argv), one-line summary)
COMMANDS = {
    "record": ("genie_lit.data.record", "record real Atari gameplay video with true-action sidecars"),
    "prepare": ("genie_lit.prepare", "convert a video folder into streamable shards, filtered by a quality classifier"),
    "play": ("genie_lit.play.cli", "play a trained world: scripted rollouts to mp4, or --serve a browser page"),
    "evaluate": ("genie_lit.evaluation.cli", "tokenizer, latent-action and controllability metrics on held-out "
                 "episodes"),
    "curves": ("genie_lit.curves", "plot FVD / ΔtPSNR / loss curves of a run folder to PNG"),
    "agent": ("genie_lit.agents.cli", "agents from expert video: play the real game with a behaviour-cloned policy"),
    "study": ("genie_lit.studies", "ablation study: variants x seeds trained, evaluated, tabled beside the paper"),
    "quickstart": ("genie_lit.quickstart", "record data, train tokenizer and world, evaluate, write a report"),
}
LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

DESCRIPTION = "Train, evaluate and play Genie world models (genie_lit).\n\n" \
    "Lightning subcommands (below): fit, validate, test, predict, e.g.\n" \
    "  genie-lit fit --config configs/tokenizer/st_vivit.yaml --data.data_dir DIR\n" \
    "Other subcommands (each has --help):\n" + \
    "".join(f"  {name:<11} {summary}\n" for name, (_, summary) in COMMANDS.items())


def main(args: Sequence[str] | None = None) -> int:
    """``genie-lit ARGS``: exit code 0 on success, 2 for a usage error, 1 for a runtime error."""
    argv = list(sys.argv[1:] if args is None else args)
    if argv and argv[0] in COMMANDS:
        return command_main(argv[0])(argv[1:])
    from genie_lit.training import run_lightning

    return run_lightning(argv, DESCRIPTION)


def command_main(name: str) -> Callable[[list[str]], int]:
    """The ``main(argv)`` of a subcommand, imported on first use."""
    return importlib.import_module(COMMANDS[name][0]).main


if __name__ == "__main__":
    sys.exit(main())
