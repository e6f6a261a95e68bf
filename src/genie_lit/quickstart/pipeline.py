"""The stages of ``genie-lit quickstart`` and the state that lets a killed run continue.

Stages, in order (Bruce et al., 2024, §3 "Training": the tokenizer first, then LAM and dynamics
co-trained over the frozen tokenizer):

1. ``record``: a small multi-game Atari recording in ``DIR/data`` (skipped when ``DIR/data`` already
   holds a recording or any video: bring your own data by putting it there);
2. ``tokenizer``: ``genie-lit fit`` of ``configs/tokenizer/st_vivit.yaml`` into ``DIR/tokenizer``;
3. ``decoder``: ``genie-lit fit`` of ``configs/tokenizer/decoder.yaml``, the tokenizer's decoder
   alone over its frozen codes, into ``DIR/decoder`` (skipped with ``--decoder-steps 0``): the same
   tokens, decoded into sharper frames;
4. ``world``: ``genie-lit fit`` of ``configs/genie/cotrain.yaml`` over that tokenizer into ``DIR/world``;
5. ``evaluate``: ``genie-lit evaluate`` on the held-out (test) episodes into ``DIR/eval``;
6. ``report``: ``DIR/report.md`` with the figures, PNG curves and mp4 rollouts per latent action.

Each training stage runs a fixed number of optimizer steps (:data:`DEFAULT_STEPS`), so the same
command trains the same world on any machine; ``--minutes`` adds an optional time cap.
``DIR/quickstart.json`` records each finished stage and its wall time. Run the same command again
after a kill: finished stages are skipped and a training stage that has ``checkpoints/last.ckpt``
resumes from it (``--ckpt_path last``; a time cap counts the time already spent, because
Lightning's ``Timer`` state travels in the checkpoint).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from genie_lit.commands import read_state, write_state

STATE_FILE = "quickstart.json"
FORMAT = "genie_lit.quickstart/1"
STAGES = ("record", "tokenizer", "decoder", "world", "evaluate", "report")
# The quickstart is defined by optimizer steps, so the same command builds the same world on any
# machine (a slower one takes longer). On this project's 2-core CPU machine (no native bf16, so the
# world trains in 32-bit): about 10 minutes of tokenizer, 3 of its decoder phase and 37 of world.
# 2,000 world steps, not 1,000, because 1,000 leave the one-step prediction below copying the last
# frame (README, "What more compute buys"). The decoder phase: 1,000 steps of the tokenizer's decoder
# alone over its frozen codes (README, "A decoder-only tokenizer phase").
DEFAULT_STEPS = {"tokenizer": 2000, "decoder": 1000, "world": 2000}
# what a world step costs in tokenizer steps, by the world's precision, only for the whole-run ETA
# printed during the tokenizer stage: in 32-bit 1.10 s against 0.29 s on a 2-core CPU
# (benchmarks/results/stage_threads_no_native_bf16_32.json, stage_threads_tokenizer_no_native_bf16.json);
# bf16-mixed is chosen only where bf16 is native, and there its steps are x1.57 faster
# (train_throughput_precision.json)
WORLD_STEP_COST = {"32-true": 3.7, "bf16-mixed": 2.4}
# a decoder-phase step in tokenizer steps (no gradient through the encoder), for the same ETA: 0.73
# against 1.21 s at one thread on the same busy 2-core CPU (results/stage_threads_decoder_1x0.json,
# stage_threads_tokenizer_1x0.json)
DECODER_STEP_COST = 0.6
# with --minutes, the share of the cap given to each training stage; the rest is recording, evaluation, report
BUDGET_SHARES = {"tokenizer": 0.25, "decoder": 0.06, "world": 0.56}


def packaged_config(*parts: str) -> str:
    """Path of a YAML file shipped in ``genie_lit/configs`` (the repository's ``configs/``)."""
    return str(files("genie_lit").joinpath("configs", *parts))


@dataclass
class QuickstartState:
    """What ``DIR/quickstart.json`` holds: finished stages with their wall times, the settings."""

    path: Path
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, out: Path) -> QuickstartState:
        data = read_state(out / STATE_FILE, FORMAT, "quickstart", QuickstartError)
        if data is None:
            return cls(out / STATE_FILE)
        return cls(out / STATE_FILE, dict(data.get("stages", {})), dict(data.get("settings", {})))

    def done(self, stage: str) -> bool:
        return bool(self.stages.get(stage, {}).get("done"))

    def seconds(self, stage: str) -> float:
        return float(self.stages.get(stage, {}).get("seconds", 0.0))

    def add_time(self, stage: str, seconds: float, done: bool, **extra: Any) -> None:
        entry = self.stages.setdefault(stage, {"seconds": 0.0, "done": False})
        entry["seconds"] = round(entry.get("seconds", 0.0) + seconds, 1)
        entry["done"] = done
        entry.update(extra)
        self.save()

    def save(self) -> None:
        write_state(self.path, FORMAT, settings=self.settings, stages=self.stages)


class QuickstartError(ValueError):
    """A setting or a folder the quickstart cannot work with (exit code 2)."""


def max_time(seconds: float) -> str:
    """Lightning's ``max_time`` string ``DD:HH:MM:SS`` for ``seconds`` (at least one minute)."""
    total = max(60, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days:02d}:{hours:02d}:{minutes:02d}:{secs:02d}"


def fit_args(component: list[str], extra_configs: list[str], data_dir: Path, root: Path, steps: int,
             seconds: float | None, accelerator: str, overrides: list[str], label: str = "fit",
             after_steps: float = 0.0) -> list[str]:
    """``genie-lit fit`` arguments of one training stage of ``steps`` optimizer steps (and at most
    ``seconds`` when given); resumes from ``root``'s last checkpoint; prints progress with an ETA."""
    configs = [*component]
    if accelerator == "cpu":
        configs.append(packaged_config("trainer", "cpu.yaml"))
    configs += [packaged_config("quickstart", "atari_data.yaml"), *extra_configs]
    args = ["fit"]
    for config in configs:
        args += ["--config", config]
    progress = {"class_path": "genie_lit.callbacks.progress.StepProgress",
                "init_args": {"label": label, "every_n_steps": 50, "after_steps": after_steps}}
    args += ["--data.data_dir", str(data_dir), "--trainer.default_root_dir", str(root),
             "--trainer.max_steps", str(steps), f"--trainer.callbacks+={json.dumps(progress)}", *overrides]
    if seconds is not None:
        args += ["--trainer.max_time", max_time(seconds)]
    if accelerator != "cpu":  # one device: a multi-process launch would re-run the whole quickstart per process
        args += ["--trainer.accelerator", accelerator, "--trainer.devices", "1"]
    if (root / "checkpoints" / "last.ckpt").exists():
        args += ["--ckpt_path", "last"]
    return args


def train_stage(args: list[str]) -> dict[str, Any]:
    """Run ``genie-lit fit`` in this process; returns what the report needs of the run."""
    from genie_lit.training import lightning_cli

    cli = lightning_cli(args)
    trainer = cli.trainer
    return {"interrupted": bool(trainer.interrupted), "global_step": int(trainer.global_step),
            "parameters": sum(p.numel() for p in cli.model.parameters() if p.requires_grad)}


def has_videos(folder: Path) -> bool:
    from genie_lit.data.index import VIDEO_EXTENSIONS

    return folder.is_dir() and any(p.suffix.lower() in VIDEO_EXTENSIONS for p in folder.rglob("*") if p.is_file())


class Clock:
    """Wall time of a stage, added to the state whether the stage finishes or fails."""

    def __init__(self, state: QuickstartState, stage: str) -> None:
        self.state, self.stage = state, stage

    def __enter__(self) -> Clock:
        self.start = time.perf_counter()
        self.extra: dict[str, Any] = {}
        self.finished = False
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.state.add_time(self.stage, time.perf_counter() - self.start, self.finished and exc is None, **self.extra)
