"""The ``genie-lit`` entry point.

``genie-lit fit|validate|test|predict`` is a subclass-mode LightningCLI: any LightningModule and
LightningDataModule named by ``class_path`` in YAML. The same :func:`main` is the console script,
``python -m genie_lit`` and the test harness. Other subcommands (``record``, ``play``, ...) are
dispatched to their own parsers before Lightning sees the arguments.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
from lightning.pytorch.cli import LightningCLI

from genie_lit.callbacks.resume import ResumableCSVLogger, ResumableTensorBoardLogger, ResumeCurves

# subcommands beside Lightning's, as "module:function" taking the remaining argv (imported lazily)
_EXTRA_COMMANDS = {
    "record": "genie_lit.data.record:main",
    "play": "genie_lit.play:main",
    "curves": "genie_lit.callbacks.curves:main",
    "evaluate": "genie_lit.evaluate:main",
    "quickstart": "genie_lit.quickstart:main",
}


DESCRIPTION = """Train, evaluate and play Genie world models (genie_lit).

Lightning subcommands (below): fit, validate, test, predict, e.g.
  genie-lit fit --config configs/tokenizer/st_vivit.yaml --data.data_dir DIR
Other subcommands (each has --help):
  record      record real Atari gameplay video with true-action sidecars
  play        play a trained world: scripted rollouts to mp4, or --serve a browser page
  evaluate    tokenizer, latent-action and controllability metrics on held-out episodes
  curves      plot FVD / ΔtPSNR / loss curves of a run folder to PNG
  quickstart  record data, train tokenizer and world, evaluate, write a report
"""


class GenieCLI(LightningCLI):
    """LightningCLI with genie_lit's defaults.

    When the config names no logger, a run logs to TensorBoard and CSV directly in
    ``trainer.default_root_dir`` (no ``version_N`` folders) and checkpoints go to its
    ``checkpoints/``; so the run folder is stable and ``--ckpt_path last`` resumes it. Those
    loggers are the resumable ones and :class:`~genie_lit.callbacks.ResumeCurves` is added when
    the config lacks it, so the curves of a killed run continue without gaps or duplicates.
    """

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        config = self._get(self.config_init, "trainer", default={})
        if config.get("logger") in (None, True) and "logger" not in kwargs:
            root = config.get("default_root_dir") or os.getcwd()
            kwargs["logger"] = default_loggers(root)
        trainer = super().instantiate_trainer(**kwargs)
        if trainer.loggers and not any(isinstance(c, ResumeCurves) for c in trainer.callbacks):
            trainer.callbacks.append(ResumeCurves())
        return trainer


def default_loggers(root: str) -> list:
    """TensorBoard (when installed) and CSV loggers writing into ``root`` itself, both resumable."""
    loggers: list = [ResumableCSVLogger(root, name="", version="")]
    try:
        loggers.insert(0, ResumableTensorBoardLogger(root, name="", version="", default_hp_metric=False))
    except ModuleNotFoundError:  # tensorboard is a core dependency, but keep CSV working without it
        pass
    return loggers


def main(args: Sequence[str] | None = None) -> int | None:
    argv = list(sys.argv[1:] if args is None else args)
    if argv and argv[0] in _EXTRA_COMMANDS:
        return _load_command(argv[0])(argv[1:])
    lightning_cli(argv)
    return 0


def lightning_cli(argv: Sequence[str]) -> GenieCLI:
    """Run a Lightning subcommand (``["fit", "--config", ...]``) and return the CLI (its trainer, model)."""
    return GenieCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        auto_configure_optimizers=False,
        save_config_kwargs={"overwrite": True},
        args=list(argv),
        parser_kwargs={"description": DESCRIPTION, "formatter_class": argparse.RawDescriptionHelpFormatter},
    )


def _load_command(name: str) -> Callable[[list[str]], int | None]:
    module, function = _EXTRA_COMMANDS[name].split(":")
    return getattr(importlib.import_module(module), function)


if __name__ == "__main__":
    sys.exit(main())
