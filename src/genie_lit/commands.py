"""The layout every hand-written ``genie-lit`` subcommand shares (record, play, evaluate, quickstart, curves).

- The same flags: ``--quiet`` (print errors only), ``--version`` and, for commands that run a
  model, ``--device auto|cpu|cuda`` (``auto``: CUDA when available; ``cuda:N`` picks a GPU).
- The same exit codes: 0 success, 2 usage error (argparse prints the usage and the message),
  1 runtime error with one line ``genie-lit <command>: error: <what is wrong and the fix>``,
  130 interrupted.
- The same state file for a resumable command (quickstart, study): :func:`read_state` checks its
  format, :func:`write_state` replaces it atomically, so a kill never leaves half a file.

This module imports nothing heavy (no torch, no Lightning), so ``--help`` of every command is
fast: a command imports torch and its models inside its ``run`` function, after parsing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genie_lit import __version__

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEVICES = ("auto", "cpu", "cuda")


class CommandError(RuntimeError):
    """A runtime error a user can fix; the command prints its message as one line and exits 1."""


def read_state(path: Path, fmt: str, command: str, error: type[Exception]) -> dict[str, Any] | None:
    """The JSON state of a resumable ``genie-lit <command>`` run (``None`` when there is none yet);
    ``error`` names a file that is not JSON or was written by another version."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise error(f"{path} is not valid JSON ({err}); delete it to start the {command} afresh") from err
    if data.get("format") != fmt:
        raise error(f"{path} was not written by this version of genie-lit {command}; choose another --out "
                    "or delete the file")
    return data


def write_state(path: Path, fmt: str, **fields: Any) -> None:
    """Write ``{"format": fmt, **fields}`` to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"format": fmt, **fields}, indent=1))
    tmp.replace(path)


def device_name(value: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (argparse type)."""
    if value in DEVICES or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise argparse.ArgumentTypeError(f"invalid device {value!r}: choose auto, cpu, cuda or cuda:N")


def new_parser(command: str, description: str, epilog: str | None = None, device: bool = False,
               formatter_class: type[argparse.HelpFormatter] = argparse.RawDescriptionHelpFormatter,
               quiet: bool = True) -> argparse.ArgumentParser:
    """An ``argparse`` parser for ``genie-lit <command>`` with the shared flags already added
    (``quiet=False``: a parser whose subcommands take ``--quiet``, see :func:`add_common_flags`)."""
    parser = argparse.ArgumentParser(prog=f"genie-lit {command}", description=description, epilog=epilog,
                                     formatter_class=formatter_class)
    add_common_flags(parser, device, quiet)
    return parser


def add_common_flags(parser: argparse.ArgumentParser, device: bool = False, quiet: bool = True) -> None:
    """``--quiet``, ``--version`` and (``device=True``) ``--device`` on ``parser``."""
    common = parser.add_argument_group("common options (every genie-lit command)")
    if quiet:
        common.add_argument("--quiet", action="store_true", help="print errors only")
    common.add_argument("--version", action="version", version=f"genie-lit {__version__}")
    if device:
        common.add_argument("--device", type=device_name, default="auto", metavar="{auto,cpu,cuda}",
                            help="where the model runs: auto (CUDA when available, else CPU), cpu, cuda or cuda:N")


def resolve_device(device: str) -> Any:
    """``auto`` -> CUDA when available, else CPU; a named device must exist (:class:`CommandError`)."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise CommandError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise CommandError(f"device {device!r} asked for but CUDA is not available; use --device cpu")
    return resolved


def run_command(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], int | None],
                argv: Sequence[str] | None, errors: Callable[[], tuple[type[BaseException], ...]] | None = None,
                on_interrupt: Callable[[argparse.Namespace], str] | None = None) -> int:
    """Parse ``argv`` and run ``body(args)`` with the shared exit codes.

    Usage errors raise ``SystemExit(2)`` from argparse (``parser.error``). :class:`CommandError`
    and the command's ``errors()`` (a function, so that their modules are imported only after
    parsing) are printed as one line and give 1; Ctrl-C gives 130 (with
    ``on_interrupt(args)`` as the message). With ``--quiet`` the body's standard output and the
    ``lightning`` loggers' info lines are dropped; errors still reach standard error.
    """
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    prog = parser.prog
    try:
        with quiet(args.quiet):
            code = body(args)
    except KeyboardInterrupt:
        message = on_interrupt(args) if on_interrupt else "stopped"
        print(f"\n{prog}: {message}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        if not isinstance(err, (CommandError, *(errors() if errors else ()))):
            raise
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK if code is None else code


def one_line(err: BaseException) -> str:
    """An error's message on one line (a ``KeyError``'s quotes dropped)."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(str(text).split())


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


@contextlib.contextmanager
def quiet(enabled: bool):
    """Drop standard output and Lightning's info logs while ``enabled``."""
    if not enabled:
        yield
        return
    loggers = [logging.getLogger(name) for name in ("lightning", "lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(_Discard()):
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
