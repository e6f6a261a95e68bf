"""Loading genie_lit checkpoints safely, like latent-diffusion's frozen first stage.

Checkpoints written by ``genie-lit fit`` store their hyperparameters as plain config data
(``_class_path`` + init args), so they load with ``torch.load(weights_only=True)``: no pickled
code runs. The class named in the checkpoint must be a subclass of the one the caller expects,
otherwise the checkpoint is refused before anything is built.
"""

from __future__ import annotations

import importlib
import pickle
import warnings
from pathlib import Path
from typing import Any, TypeVar

import lightning as L
import torch
from lightning.pytorch.cli import instantiate_module
from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters_context

ModuleT = TypeVar("ModuleT", bound=L.LightningModule)
_INSTANTIATOR = "lightning.pytorch.cli.instantiate_module"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, of the wrong kind, or incompatible."""


def read_checkpoint(path: str | Path, what: str = "checkpoint") -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with errors that name the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist; pass the path of a .ckpt written by `genie-lit fit`")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{what} {path} holds pickled Python objects that are not loaded for safety (it was not written by "
            f"`genie-lit fit`, or its module was built outside the CLI). Re-train with the CLI."
        ) from err  # torch's own multi-line explanation stays in the chain, above this message
    except (RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(f"{what} {path} is not a readable PyTorch checkpoint: {err}") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{what} {path} is not a Lightning checkpoint (no state_dict)")
    return checkpoint


def checkpoint_class(checkpoint: dict[str, Any]) -> type | None:
    return _class(checkpoint.get("hyper_parameters", {}).get("_class_path"))


def _class(class_path: str | None) -> type | None:
    if not class_path:
        return None
    module_name, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        return None


def current_options(config: Any, class_path: str | None = None, path: str | Path = "") -> Any:
    """A checkpoint's hyperparameters in the form this version's classes take.

    A class lists the options it no longer has in ``removed_options``, with the one value they
    ever had effect with; a checkpoint that holds that value loads as before, any other value is
    refused (the model it describes cannot be built any more). A class whose options moved has an
    ``upgrade_options(init_args) -> init_args`` classmethod. Nested modules (``class_path`` +
    ``init_args``) are handled at every depth."""
    if isinstance(config, list):
        return [current_options(item, None, path) for item in config]
    if not isinstance(config, dict):
        return config
    if isinstance(config.get("class_path"), str) and isinstance(config.get("init_args"), dict):
        return {**config, "init_args": current_options(config["init_args"], config["class_path"], path)}
    cls = _class(class_path or config.get("_class_path"))
    removed = getattr(cls, "removed_options", {})
    out = {}
    for key, value in config.items():
        if key in removed:
            if value != removed[key]:
                raise CheckpointError(f"checkpoint {path} sets {key}={value!r}, an option that no longer exists "
                                      f"(only {removed[key]!r} is supported now); retrain with this version")
            continue
        out[key] = current_options(value, None, path)
    upgrade = getattr(cls, "upgrade_options", None)
    return upgrade(out) if upgrade is not None else out


def build_from_checkpoint(checkpoint: dict[str, Any], expected: type[ModuleT], path: str | Path = "",
                          what: str = "checkpoint") -> ModuleT:
    """Instantiate the module a checkpoint describes (must subclass ``expected``) and load its weights."""
    hparams = dict(checkpoint.get("hyper_parameters", {}))
    cls = checkpoint_class(checkpoint)
    if cls is None or not issubclass(cls, expected):
        found = hparams.get("_class_path", "an unknown class")
        raise CheckpointError(f"{what} {path} holds a {found}, but a {expected.__name__} is needed")
    hparams.pop("_instantiator", None)
    hparams = current_options(hparams, path=path)
    # the module records *its own* plain config as hparams, even when built inside another module
    with _given_hyperparameters_context(hparams=hparams, instantiator=_INSTANTIATOR):
        module = instantiate_module(expected, hparams)
    module.load_state_dict(checkpoint["state_dict"])
    return module


def load_module(path: str | Path, expected: type[ModuleT], what: str = "checkpoint") -> ModuleT:
    """Read ``path`` safely and return the ``expected`` module it holds, in eval mode."""
    return build_from_checkpoint(read_checkpoint(path, what), expected, path, what).eval()


def freeze(module: torch.nn.Module) -> torch.nn.Module:
    """Eval mode and no gradients; owners keep it in eval by overriding ``train()``.

    A frozen part stays in eval mode by design, so Lightning's warning about modules found in eval
    mode at the start of training (which counts the frozen part's submodules) is silenced once a
    part is frozen.
    """
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training")
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module
