"""``StepProgress``: one plain line of progress with an ETA every few optimizer steps.

Lightning's progress bar counts batches per epoch; a run defined by ``trainer.max_steps`` wants
steps done out of steps planned, the pace, and when it will end. The pace is measured over the
steps of this process only (a resumed run does not count the time before the restart), and the
line goes to standard output so logs of long runs stay readable.
"""

from __future__ import annotations

import time

import lightning as L


def format_duration(seconds: float) -> str:
    """``75`` -> ``1 min 15 s``; ``4000`` -> ``1 h 07 min``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class StepProgress(L.Callback):
    """Print ``[label] step 300/1500 · 0.92 s/step · ETA 18 min 24 s`` every ``every_n_steps``.

    Args:
        label: what the line starts with (e.g. the quickstart's stage).
        every_n_steps: optimizer steps between lines.
        after_steps: work the caller still plans after this run (a pipeline's later stages), in
            steps of this run's pace; when > 0 a second ETA for the whole pipeline is printed.
    """

    def __init__(self, label: str = "fit", every_n_steps: int = 50, after_steps: float = 0.0) -> None:
        self.label, self.every_n_steps, self.after_steps = label, every_n_steps, after_steps
        self._start_time: float | None = None
        self._start_step = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start_time, self._start_step = time.perf_counter(), trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self._start_time is None or step == self._start_step or step % self.every_n_steps:
            return
        if trainer.global_rank == 0:
            print(self.line(step, trainer.max_steps, time.perf_counter() - self._start_time), flush=True)

    def line(self, step: int, max_steps: int, elapsed: float) -> str:
        pace = elapsed / max(1, step - self._start_step)
        if max_steps is None or max_steps < 1:
            return f"[{self.label}] step {step} · {pace:.2f} s/step"
        left = pace * max(0, max_steps - step)
        text = f"[{self.label}] step {step}/{max_steps} · {pace:.2f} s/step · ETA {format_duration(left)}"
        if self.after_steps > 0:
            text += f" (all stages: about {format_duration(left + pace * self.after_steps)})"
        return text
