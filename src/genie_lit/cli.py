"""The ``genie-lit`` entry point.

``genie-lit fit|validate|test|predict`` is a subclass-mode LightningCLI: any LightningModule and
LightningDataModule named by ``class_path`` in YAML. The same :func:`main` is the console script,
``python -m genie_lit`` and the test harness. Other subcommands (``record``, ``play``, ...) are
dispatched to their own parsers before Lightning sees the arguments.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

_EXTRA_COMMANDS: dict[str, Callable[[list[str]], int | None]] = {}


class GenieCLI(LightningCLI):
    """LightningCLI with genie_lit's defaults.

    When the config names no logger, a run logs to TensorBoard and CSV directly in
    ``trainer.default_root_dir`` (no ``version_N`` folders) and checkpoints go to its
    ``checkpoints/``; so the run folder is stable and ``--ckpt_path last`` resumes it.
    """

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        config = self._get(self.config_init, "trainer", default={})
        if config.get("logger") in (None, True) and "logger" not in kwargs:
            root = config.get("default_root_dir") or os.getcwd()
            kwargs["logger"] = default_loggers(root)
        return super().instantiate_trainer(**kwargs)


def default_loggers(root: str) -> list:
    """TensorBoard (when installed) and CSV loggers writing into ``root`` itself."""
    loggers: list = [CSVLogger(root, name="", version="")]
    try:
        loggers.insert(0, TensorBoardLogger(root, name="", version="", default_hp_metric=False))
    except ModuleNotFoundError:  # tensorboard is a core dependency, but keep CSV working without it
        pass
    return loggers


def main(args: Sequence[str] | None = None) -> int | None:
    argv = list(sys.argv[1:] if args is None else args)
    if argv and argv[0] in _extra_commands():
        return _extra_commands()[argv[0]](argv[1:])
    GenieCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        auto_configure_optimizers=False,
        save_config_kwargs={"overwrite": True},
        args=argv,
        parser_kwargs={"description": "Train and evaluate Genie world models (genie_lit)."},
    )
    return 0


def _extra_commands() -> dict[str, Callable[[list[str]], int | None]]:
    return _EXTRA_COMMANDS


if __name__ == "__main__":
    sys.exit(main())
