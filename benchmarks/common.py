"""Helpers shared by the model benchmarks: modules built from the configs, interleaved timing,
machine facts, tables and JSON.

On a shared machine absolute times drift with other people's load, so the benchmarks time the
things they compare *interleaved* (one repeat of each case in turn, round after round), report
medians and ratios, and record the load average at the start and the end.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from genie_lit.quickstart import cpuinfo_value

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
RESULTS_DIR = Path(__file__).resolve().parent / "results"

# what --quick shrinks every backbone and codebook to (the tests' tiny sizes)
TINY_BACKBONE = {"dim": 32, "depth": 1, "num_heads": 2}
TINY_VOCAB = 64


# --------------------------------------------------------------------------------- configs
def read_config(path: Path | str) -> dict:
    """A YAML config with every referenced file (a value ``other.yaml``, relative to the file, as
    jsonargparse resolves them, e.g. ``lam: ../models/lam_pixel.yaml``) read in its place."""
    path = Path(path)
    return _inline(yaml.safe_load(path.read_text()), path.parent)


def _inline(value: Any, folder: Path) -> Any:
    if isinstance(value, dict):
        return {key: _inline(item, folder) for key, item in value.items()}
    if isinstance(value, list):
        return [_inline(item, folder) for item in value]
    if isinstance(value, str) and value.endswith((".yaml", ".yml")) and (folder / value).is_file():
        return read_config(folder / value)
    return value


def merge(base: dict, override: dict) -> dict:
    """``override`` deep-merged into a copy of ``base`` (dicts merge, anything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def shrink(section: Any) -> Any:
    """A copy of a config section with every backbone at the tiny size and 1024-code vocabularies
    cut to :data:`TINY_VOCAB` (for ``--quick`` runs)."""
    if isinstance(section, list):
        return [shrink(item) for item in section]
    if not isinstance(section, dict):
        return section
    out = {key: shrink(value) for key, value in section.items()}
    if str(out.get("class_path", "")).startswith("genie_lit.nn.") and "Transformer" in out["class_path"]:
        out["init_args"] = {**out.get("init_args", {}), **TINY_BACKBONE}
    for key in ("codebook_size", "vocab_size"):
        if out.get(key) == 1024:
            out[key] = TINY_VOCAB
    return out


def build_model(model_section: dict) -> torch.nn.Module:
    """Instantiate a config's ``model`` section (``class_path``/``init_args``) the way
    ``genie-lit fit`` does, optimizer and scheduler callables included."""
    import lightning as L
    from lightning.pytorch.cli import LightningArgumentParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parser = LightningArgumentParser(exit_on_error=False)
        parser.add_subclass_arguments(L.LightningModule, "model", required=True)
        config = parser.parse_object({"model": model_section})
        return parser.instantiate(config).model


def optimizers(module: torch.nn.Module) -> tuple[torch.optim.Optimizer, Any]:
    """The module's own ``configure_optimizers()`` as ``(optimizer, scheduler or None)``."""
    configured = module.configure_optimizers()
    if isinstance(configured, dict):
        return configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    return configured, None


def training_step(module: torch.nn.Module, loss: Callable[[], torch.Tensor], optimizer: torch.optim.Optimizer,
                  scheduler: Any, clip: float | None, bf16: bool) -> None:
    """One optimizer step as Lightning takes it: ``loss()`` (under bf16-mixed autocast when ``bf16``),
    backward, gradient clipping at ``clip``, optimizer and scheduler step."""
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):  # Lightning's bf16-mixed
        value = loss()
    value.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()


def game_scores(scores: dict) -> dict:
    """Per game, the figures of a ``latent_action_metrics`` result that the LAM benchmarks record."""
    return {game: {"nmi": g["nmi"], "nmi_chance": g["nmi_chance"], "codes_used": g["codes_used"],
                   "few_shot_accuracy": (g["few_shot"] or {}).get("accuracy"),
                   "few_shot_chance": (g["few_shot"] or {}).get("chance")} for game, g in scores["games"].items()}


# --------------------------------------------------------------------------------- timing
def synchronize(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved(cases: dict[str, Callable[[], Any]], rounds: int, warmup: int = 1, device: torch.device | str = "cpu",
                before: Callable[[str], None] | None = None) -> dict[str, list[float]]:
    """Seconds of each call, ``warmup`` untimed calls of every case first, then ``rounds`` rounds
    that call every case once in turn, so slow phases of the machine hit all cases alike.
    ``before(name)`` runs untimed before each call (thread settings, a world reset)."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for timed in [False] * warmup + [True] * rounds:
        for name, fn in cases.items():
            if before is not None:
                before(name)
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            if timed:
                times[name].append(time.perf_counter() - start)
    return times


def summary(seconds: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds), "n": len(seconds)}


# ------------------------------------------------------------------------------- records
def machine(threads: int | list[int], device: str = "cpu") -> dict[str, Any]:
    """Facts about the run; call at the start, then :func:`finish` adds the load at the end."""
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_model": cpuinfo_value("model name"),  # machines of one kind differ in instruction set
            "python": sys.version.split()[0], "torch": torch.__version__, "cpus": os.cpu_count(), "threads": threads, "device": device, "load_average_at_start": list(os.getloadavg())}
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def mean_std(values: list[float | None]) -> tuple[float, float] | None:
    """Mean and sample std of the values that exist (None when none does)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def quick_out(out: str | Path, quick: bool) -> Path:
    """Where a run writes its JSON: a ``--quick`` smoke run aimed at a committed result under
    ``results/`` goes to ``runs/quick/`` (git-ignored) instead, so it never overwrites a measured figure."""
    out = Path(out)
    if quick and out.resolve().is_relative_to(RESULTS_DIR):
        out = REPO / "runs" / "quick" / out.name
        print(f"--quick: writing {out}, not the committed {RESULTS_DIR.name}/{out.name}")
    return out


def finish(record: dict, out: Path) -> None:
    """Add the end load average, write ``record`` as JSON to ``out`` and say where."""
    record["machine"]["load_average_at_end"] = list(os.getloadavg())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    m = record["machine"]
    print(f"torch {m['torch']}, {m['threads']} thread(s), {m['device']}; load average (1, 5, 15 min) "
          f"at start {_rounded(m['load_average_at_start'])}, at end {_rounded(m['load_average_at_end'])} "
          f"on {m['cpus']} CPUs")
    print(f"written {out}")


def run_key(data: str | Path, configs: tuple[Path | str, ...], *settings: Any) -> str:
    """The cache key of a screen's run: another recording, another setting or a changed default
    config (its parsed values, referenced files inlined; not its comments) is another run."""
    parsed = json.dumps([read_config(c) for c in configs], sort_keys=True)
    return f"{zlib.crc32(f'{Path(data).resolve()}:{settings}:{parsed}'.encode()):08x}"


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 2) for v in values]


def run_genie_lit(args: list[str], threads: int, log: Path) -> None:
    """``python -m genie_lit ARGS`` in a subprocess with ``threads`` CPU threads, output appended
    to ``log``; a failure raises, naming the log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with log.open("a") as out:
        done = subprocess.run([sys.executable, "-m", "genie_lit", *args], stdout=out, stderr=subprocess.STDOUT, env=env)
    if done.returncode:
        raise RuntimeError(f"genie-lit {args[0]} failed (exit {done.returncode}); see {log}")


def command(script: str, argv: list[str] | None) -> str:
    return " ".join([f"python benchmarks/{script}", *(argv if argv is not None else sys.argv[1:])])


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """A markdown table, numbers right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    width = [max(len(h), *(len(r[k]) for r in cells)) for k, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, width)) + " |")
    print("|" + "|".join("-" * (w + 1) + ":" if k else "-" * (w + 2) for k, w in enumerate(width)) + "|")
    for row in cells:
        padded = (c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(row, width)))
        print("| " + " | ".join(padded) + " |")
