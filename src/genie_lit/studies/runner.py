"""Running a study: every variant x seed x phase as one ``genie-lit fit`` process, then evaluation.

Each run is ``python -m genie_lit fit --config ...`` (the same LightningCLI path as
``genie-lit fit``; a multi-process trainer such as ``configs/trainer/ddp.yaml`` launches its
processes for that run alone). Its configs, in order: the phase's base, ``configs/trainer/cpu.yaml``
on a CPU, the study's data configs, the variant's overlay for the phase, the study's trainer
overlays. A phase with ``tokenizer_from`` gets ``--model.tokenizer_ckpt`` of that phase's run of the
same variant and seed, so a tokenizer variant feeds its own world.

Folders: ``OUT/runs/<variant>/seed<k>/<phase>`` (the TensorBoard and CSV logs, checkpoints and
``run_measures.json`` of one run), so ``tensorboard --logdir OUT/runs`` overlays them all.
Two variants whose runs would be identical (same configs, seed and upstream run) share one run.
``OUT/study.json`` records finished runs and evaluations: running the study again skips them and
resumes an unfinished run from its ``checkpoints/last.ckpt``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genie_lit.commands import read_state, write_state
from genie_lit.quickstart.pipeline import has_videos, packaged_config
from genie_lit.studies.spec import Overlay, Study, StudyError, describe

STATE_FILE = "study.json"
FORMAT = "genie_lit.studies/1"
MEASURES = "genie_lit.studies.measure.RunMeasures"


def say(message: str) -> None:
    print(f"[study] {message}", flush=True)


@dataclass
class StudyState:
    path: Path
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, out: Path) -> StudyState:
        data = read_state(out / STATE_FILE, FORMAT, "study", StudyError)
        if data is None:
            return cls(out / STATE_FILE)
        return cls(out / STATE_FILE, data.get("runs", {}), data.get("evaluations", {}), data.get("extra", {}))

    def save(self) -> None:
        write_state(self.path, FORMAT, runs=self.runs, evaluations=self.evaluations, extra=self.extra)


def overlay_path(overlay: Overlay, out: Path) -> str:
    """A file for ``--config``: the overlay's own, or its inline YAML written under ``OUT/overlays``."""
    if overlay.path is not None:
        return str(overlay.path)
    text = overlay.text()
    path = out / "overlays" / f"{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


@dataclass
class Runner:
    study: Study
    out: Path
    accelerator: str  # "cpu" or "gpu"
    quiet: bool = False
    state: StudyState = field(init=False)

    def __post_init__(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self.state = StudyState.load(self.out)
        self.state.extra["study"] = json.loads(describe(self.study))
        self.state.save()

    @property
    def data_dir(self) -> Path:
        return self.study.data_dir or self.out / "data"

    def run_folder(self, variant: str, seed: int, phase: str) -> Path:
        """The run's folder: its own, or that of an identical run of an earlier variant."""
        entry = self.state.runs.get(self.study.run_key(variant, seed, phase))
        return Path(entry["folder"]) if entry else self.out / "runs" / variant / f"seed{seed}" / phase

    def plan(self) -> list[tuple[str, int, str]]:
        return [(v, s, p.name) for s in self.study.seeds for v in self.study.variants for p in self.study.phases]

    def ensure_data(self) -> None:
        data = self.data_dir
        recording = self.state.extra.get("recording")
        if has_videos(data) and not recording:
            return
        if self.study.data_dir is not None:
            raise StudyError(f"data folder {data} holds no video; record one (genie-lit record atari --out {data}) or "
                             "fix data.dir in the study file")
        from genie_lit.data.record import record_atari

        rec = self.study.record
        self.state.extra["recording"] = True
        self.state.save()
        say(f"recording {rec['episodes']} episodes x {rec['steps']} steps of {rec['games']} into {data}")
        record_atari(data, [g for g in str(rec["games"]).split(",") if g.strip()], episodes=int(rec["episodes"]),
                     steps=int(rec["steps"]), seed=0, val_episodes=1, test_episodes=1, mode="overwrite",
                     progress=not self.quiet)
        self.state.extra["recording"] = False
        self.state.save()

    def fit_args(self, variant: str, seed: int, phase: str, folder: Path) -> list[str]:
        spec = self.study.phase(phase)
        overlays = [overlay_path(o, self.out) for o in spec.configs]
        if self.accelerator == "cpu":
            overlays.append(packaged_config("trainer", "cpu.yaml"))
        overlays += [overlay_path(o, self.out) for o in
                     [*self.study.data_configs, *self.study.variants[variant].get(phase, []), *self.study.trainer]]
        args = ["fit"]
        for path in overlays:
            args += ["--config", path]
        label = f"{variant}/seed{seed}/{phase}"
        progress = {"class_path": "genie_lit.callbacks.progress.StepProgress",
                    "init_args": {"label": label, "every_n_steps": max(1, min(50, spec.steps // 10))}}
        args += ["--data.data_dir", str(self.data_dir), "--trainer.default_root_dir", str(folder),
                 "--trainer.max_steps", str(spec.steps), "--seed_everything", str(seed),
                 "--trainer.enable_progress_bar", "false",  # StepProgress prints steps with an ETA instead
                 f"--trainer.callbacks+={json.dumps(progress)}", f"--trainer.callbacks+={MEASURES}"]
        if self.accelerator != "cpu":
            args += ["--trainer.accelerator", self.accelerator]
            if not self.study.trainer:  # one GPU unless a trainer overlay (e.g. ddp.yaml) says otherwise
                args += ["--trainer.devices", "1"]
        if spec.tokenizer_from:
            upstream = self.run_folder(variant, seed, spec.tokenizer_from) / "checkpoints" / "last.ckpt"
            args += ["--model.tokenizer_ckpt", str(upstream)]
        if (folder / "checkpoints" / "last.ckpt").exists():
            args += ["--ckpt_path", "last"]
        return args

    def train(self, variant: str, seed: int, phase: str) -> None:
        key = self.study.run_key(variant, seed, phase)
        entry = self.state.runs.get(key)
        label = f"{variant}/seed{seed}/{phase}"
        if entry and entry.get("done"):
            say(f"{label}: done, skipped" + (f" (shared with {entry['label']})" if entry["label"] != label else ""))
            return
        folder = self.run_folder(variant, seed, phase)
        entry = self.state.runs.setdefault(key, {"label": label, "folder": str(folder), "seconds": 0.0,
                                                 "done": False})
        steps = self.study.phase(phase).steps
        marker = folder / "run_key.txt"
        if marker.is_file() and marker.read_text().strip() != key:
            raise StudyError(f"{folder} holds a run of {label} with other settings (the study file, an overlay or "
                             "--steps changed since); choose another --out, or delete that folder to train it again")
        folder.mkdir(parents=True, exist_ok=True)
        marker.write_text(key + "\n")
        resumed = (folder / "checkpoints" / "last.ckpt").exists()
        say(f"{label}: training {steps} steps into {folder}" + (" (resuming from last.ckpt)" if resumed else ""))
        command = [sys.executable, "-m", "genie_lit", *self.fit_args(variant, seed, phase, folder)]
        (folder / "command.txt").write_text(" ".join(command) + "\n")
        begin = time.perf_counter()
        try:
            with open(folder / "stderr.log", "a") as errors:
                code = subprocess.run(command, stdout=subprocess.DEVNULL if self.quiet else None, stderr=errors,
                                      env={**os.environ, "PYTHONWARNINGS": "ignore"}).returncode
        finally:
            entry["seconds"] = round(entry["seconds"] + time.perf_counter() - begin, 1)
            self.state.save()
        measures_path = folder / "run_measures.json"
        measures = json.loads(measures_path.read_text()) if measures_path.is_file() else {}
        if code != 0:
            tail = (folder / "stderr.log").read_text().strip().splitlines()[-1:] or ["(no message)"]
            raise StudyError(f"run {label} failed (exit {code}): {tail[0][:300]}; full log: {folder / 'stderr.log'}")
        if measures.get("global_step", 0) < steps:
            raise KeyboardInterrupt  # the fit stopped early (Ctrl-C): run the study again to resume
        entry.update(done=True, measures=measures)
        self.state.save()

    def evaluate(self, variant: str, seed: int, device: str) -> None:
        name = f"{variant}/seed{seed}"
        last = self.study.phases[-1].name
        key = self.study.run_key(variant, seed, last)
        entry = self.state.evaluations.get(name, {})
        if entry.get("done") and entry.get("run_key") == key:
            return
        from genie_lit.studies.evaluate import evaluate_run

        ckpt = self.run_folder(variant, seed, last) / "checkpoints" / "last.ckpt"
        folder = self.out / "eval" / variant / f"seed{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        say(f"{name}: evaluating {ckpt} on held-out episodes ({self.study.evaluation['clips']} clips)")
        results = evaluate_run(ckpt, self.data_dir, self.study.evaluation, device, folder)
        (folder / "eval.json").write_text(json.dumps(results, indent=1))
        self.state.evaluations[name] = {"done": True, "folder": str(folder), "run_key": key}
        self.state.save()

    def run(self, device: str) -> None:
        self.ensure_data()
        plan = self.plan()
        say(f"{self.study.name}: {len(self.study.variants)} variant(s) x {len(self.study.seeds)} seed(s) x "
            f"{len(self.study.phases)} phase(s) = {len(plan)} runs (identical runs are shared); each run prints its "
            "ETA")
        for index, (variant, seed, phase) in enumerate(plan, 1):
            say(f"run {index}/{len(plan)}" + self.eta(plan[index - 1:]))
            self.train(variant, seed, phase)
            if phase == self.study.phases[-1].name:
                self.evaluate(variant, seed, device)

    def eta(self, remaining: list[tuple[str, int, str]]) -> str:
        """``", study ETA ..."``: the runs left (not done, not shared with a done one) at the mean wall
        time of the finished runs of their phase; empty until a run of each phase left has finished."""
        from genie_lit.callbacks.progress import format_duration

        done: dict[str, list[float]] = {}
        for entry in self.state.runs.values():
            if entry.get("done"):
                done.setdefault(entry["label"].rsplit("/", 1)[-1], []).append(entry["seconds"])
        keys = {self.study.run_key(v, s, p): p for v, s, p in remaining
                if not self.state.runs.get(self.study.run_key(v, s, p), {}).get("done")}
        if not keys or any(p not in done for p in keys.values()):
            return ""
        left = sum(sum(done[p]) / len(done[p]) for p in keys.values())
        return f" (study: about {format_duration(left)} of training left, evaluations not counted)"

    def results(self) -> dict[str, dict[int, dict[str, Any]]]:
        """``variant -> seed -> {"phases": {phase: run entry}, "eval": eval.json, "features": path}``."""
        out: dict[str, dict[int, dict[str, Any]]] = {}
        for variant in self.study.variants:
            for seed in self.study.seeds:
                phases = {p.name: self.state.runs.get(self.study.run_key(variant, seed, p.name), {})
                          for p in self.study.phases}
                folder = self.out / "eval" / variant / f"seed{seed}"
                results = json.loads((folder / "eval.json").read_text()) if (folder / "eval.json").is_file() else {}
                out.setdefault(variant, {})[seed] = {"phases": phases, "eval": results, "eval_folder": str(folder)}
        return out

