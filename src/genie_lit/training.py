"""``genie-lit fit|validate|test|predict``: genie_lit's subclass-mode LightningCLI.

Any LightningModule and LightningDataModule named by ``class_path`` in YAML. :func:`run_lightning`
is what ``genie-lit`` runs for these subcommands; :func:`lightning_cli` is the same CLI for
callers that want the trainer and model back (the quickstart, tests).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import lightning as L
from lightning.pytorch.cli import LightningCLI

from genie_lit.callbacks.resume import ResumeCurves
from genie_lit.loggers import ResumableCSVLogger, ResumableTensorBoardLogger
from genie_lit.models.checkpoints import CheckpointError

# checkpoint arguments (model.init_args.X / data.init_args.X) -> the module class they must hold
CHECKPOINT_ARGUMENTS = {"tokenizer_ckpt": ("genie_lit.models.tokenizer", "VideoTokenizer", "tokenizer checkpoint"),
                        "lam_ckpt": ("genie_lit.models.lam", "LatentActionModel", "latent action checkpoint")}


class GenieCLI(LightningCLI):
    """LightningCLI with genie_lit's defaults.

    When the config names no logger, a run logs to TensorBoard and CSV directly in
    ``trainer.default_root_dir`` (no ``version_N`` folders) and checkpoints go to its
    ``checkpoints/``; so the run folder is stable and ``--ckpt_path last`` resumes it. Those
    loggers are the resumable ones and :class:`~genie_lit.callbacks.ResumeCurves` is added when
    the config lacks it, so the curves of a killed run continue without gaps or duplicates.

    Checkpoint arguments (``tokenizer_ckpt``, ``lam_ckpt``) are checked before anything is built,
    so a wrong file is one :class:`~genie_lit.models.CheckpointError` rather than jsonargparse's
    dump of the whole config.
    """

    def parse_arguments(self, parser: Any, args: Any) -> None:
        # genie-lit always passes the arguments it took from sys.argv (main(argv) is also the test
        # harness), so Lightning's warning against giving both does not apply
        self.config = parser.parse_object(args) if isinstance(args, (dict, argparse.Namespace)) \
            else parser.parse_args(args)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        for section in ("model", "data"):
            init_args = (config.get(section) or {}).get("init_args") or {}
            for key, (module, name, what) in CHECKPOINT_ARGUMENTS.items():
                if init_args.get(key):
                    check_checkpoint_kind(init_args[key], module, name, f"--{section}.{key}: {what}")

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except ValueError as err:  # jsonargparse wraps a module's refusal in a dump of the whole config
            cause = checkpoint_error_in(err)
            if cause is None:
                raise
            raise cause from None

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        config = self._get(self.config_init, "trainer", default={})
        if config.get("logger") in (None, True) and "logger" not in kwargs:
            root = config.get("default_root_dir") or os.getcwd()
            kwargs["logger"] = default_loggers(root)
        trainer = super().instantiate_trainer(**kwargs)
        if trainer.loggers and not any(isinstance(c, ResumeCurves) for c in trainer.callbacks):
            trainer.callbacks.append(ResumeCurves())
        return trainer


def checkpoint_error_in(err: BaseException) -> CheckpointError | None:
    """The :class:`CheckpointError` among an exception's causes, if any."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, CheckpointError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def check_checkpoint_kind(path: str, module: str, name: str, what: str) -> None:
    """Refuse a checkpoint that is missing, unsafe or holds another kind of module."""
    import importlib

    from genie_lit.models.checkpoints import checkpoint_class, read_checkpoint

    expected = getattr(importlib.import_module(module), name)
    checkpoint = read_checkpoint(path, what)
    found = checkpoint_class(checkpoint)
    if found is None or not issubclass(found, expected):
        held = checkpoint.get("hyper_parameters", {}).get("_class_path", "an unknown class")
        raise CheckpointError(f"{what} {path} holds a {held}, but a {name} is needed; pass the "
                              f"checkpoints/last.ckpt of a {name} run")


def default_loggers(root: str) -> list:
    """TensorBoard (when installed) and CSV loggers writing into ``root`` itself, both resumable."""
    loggers: list = [ResumableCSVLogger(root, name="", version="")]
    try:
        loggers.insert(0, ResumableTensorBoardLogger(root, name="", version="", default_hp_metric=False))
    except ModuleNotFoundError:  # tensorboard is a core dependency, but keep CSV working without it
        pass
    return loggers


def lightning_cli(argv: Sequence[str], description: str | None = None) -> GenieCLI:
    """Run a Lightning subcommand (``["fit", "--config", ...]``) and return the CLI (its trainer, model)."""
    # Lightning 2.6 calls torch's deprecated ``isinstance(treespec, LeafSpec)`` on every batch: a
    # message about Lightning's own code that a user cannot act on
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    return GenieCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        auto_configure_optimizers=False,
        save_config_kwargs={"overwrite": True},
        args=list(argv),
        parser_kwargs={"description": description, "formatter_class": argparse.RawDescriptionHelpFormatter},
    )


def run_lightning(argv: Sequence[str], description: str | None = None) -> int:
    """``genie-lit fit|validate|test|predict``: 0, or 1 with one line for a wrong checkpoint."""
    try:
        lightning_cli(argv, description)
    except CheckpointError as err:
        print(f"genie-lit: error: {err}", file=sys.stderr)
        return 1
    return 0
