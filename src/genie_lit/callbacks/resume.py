"""Curves that continue after a crash: ``genie-lit fit ... --ckpt_path last`` after a SIGKILL.

What "step" means. Lightning logs every row (CSV ``step`` column, TensorBoard event step) at
``fit_loop.epoch_loop._batches_that_stepped``: the training row of the batch whose optimiser step
takes ``global_step`` from ``g`` to ``g + 1`` has step ``g``, and so do the validation rows of a
validation run right after that batch. A checkpoint saved at ``global_step = g + 1`` (by
``ModelCheckpoint(every_n_train_steps=N)`` at the end of that batch, and saved again after the
validation that follows it, if any) covers every row with step ``<= g``; the resumed run logs
its first row at step ``g + 1`` (or later), and logs every later step again in the same order.

What goes wrong with Lightning 2.6's loggers:

- ``CSVLogger`` *deletes* ``metrics.csv`` when its writer starts in a folder that holds one (in
  the trainer's setup, before any callback hook), so a resumed run keeps only the rows logged
  after the crash;
- ``TensorBoardLogger`` keeps the killed run's events, including those logged after the last
  checkpoint, which the resumed run logs again (two values per step); and its writer flushes
  every 120 s, so a kill loses recent events, even some the checkpoint covers (a gap).

The fix, in three parts:

- :class:`ResumableCSVLogger` keeps ``metrics.csv`` when it starts. When told the step ``s`` the
  curves continue at, it drops the rows with step ``>= s`` (logged by a run killed after its
  checkpoint; the resumed run logs those steps again) and a row cut by the kill, rewriting the
  file atomically, and appends after the rest.
- :class:`ResumableTensorBoardLogger`, continuing at ``s > 0``, first writes the
  ``SessionLog.START`` event at step ``s`` that ``SummaryWriter(purge_step=s)`` writes:
  TensorBoard then ignores the earlier files' events with step ``>= s``.
- :class:`ResumeCurves` gives them ``s``: at the first batch or validation of a fit (the
  checkpoint is restored by then, nothing is logged yet) it is the restored
  ``_batches_that_stepped`` on a ``--ckpt_path`` resume, 0 on a fresh fit (a fresh run in an old
  folder starts a new metrics.csv, as with Lightning's logger). Without the callback the loggers
  take the step of their first row. It also flushes every logger whenever a checkpoint is saved,
  and again at the next hook (the rows of the checkpoint's step are logged just *after*
  ``ModelCheckpoint`` saves), so everything a checkpoint covers is on disk; and it warns on a
  resumed fit whose loggers are Lightning's plain ones.

Validation rows at the checkpoint's step are kept once: Lightning does not repeat a validation that
ran after the checkpoint (it fast-forwards past it on resume). If the kill interrupted that
validation before it logged, that point is missing from the validation curves (Lightning does not
re-run it); training rows have no gap. With a shuffled DataLoader the resumed epoch draws its
batches afresh (Lightning warns that the loader is not resumable): some clips of that epoch may be
seen twice, others not at all.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only, rank_zero_warn


# ------------------------------------------------------------------------------------ CSV
class _ContinuingWriter(ExperimentWriter):
    """CSVLogger's writer without the deletion: :meth:`continue_at` keeps the rows before a step."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        self.continued_at: int | None = None
        self.dropped_rows = 0

    def _check_log_dir_exists(self) -> None:  # Lightning's deletes metrics.csv here
        pass

    def log_metrics(self, metrics_dict: dict[str, float], step: int | None = None) -> None:
        if self.continued_at is None and step is not None:
            self.continue_at(int(step))
        super().log_metrics(metrics_dict, step)

    def continue_at(self, step: int) -> None:
        """Keep the rows of metrics.csv with step ``< step`` and append after them (once)."""
        if self.continued_at is not None:
            return
        self.continued_at = step
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        header, rows, self.dropped_rows = read_rows_before(path, step)
        if header and rows:
            write_rows(path, header, rows)
            self.metrics_keys = list(header)  # later rows are appended under this header
            rank_zero_info(f"metrics.csv continues at step {step} after {len(rows)} earlier row(s); "
                           f"{self.dropped_rows} row(s) from step {step} on were dropped")
        else:
            path.unlink()


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` survives a resume: rows before the step the run
    continues at are kept, later ones (logged by a killed run after its checkpoint) dropped.

    :class:`ResumeCurves` calls :meth:`continue_at` with the restored step (0 for a fresh fit);
    without it the step of the first row this logger writes is used."""

    @property
    @rank_zero_experiment
    def experiment(self) -> _ContinuingWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(log_dir=self.log_dir)
        return self._experiment

    @rank_zero_only
    def continue_at(self, step: int) -> None:
        self.experiment.continue_at(step)


def read_rows_before(path: Path, step: int) -> tuple[list[str], list[list[str]], int]:
    """Header, the rows of a CSVLogger file whose step is ``< step``, and how many rows were
    dropped (later steps, or malformed such as one cut by a kill)."""
    with open(path, newline="") as file:
        table = list(csv.reader(file))
    if not table or "step" not in table[0]:
        return [], [], max(0, len(table) - 1)
    header, column = table[0], table[0].index("step")
    keep = []
    for row in table[1:]:
        try:
            if len(row) == len(header) and int(float(row[column])) < step:
                keep.append(row)
        except ValueError:
            pass
    return header, keep, len(table) - 1 - len(keep)


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Replace ``path`` atomically (a kill leaves the old file or the new one)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- TensorBoard
class ResumableTensorBoardLogger(TensorBoardLogger):
    """``TensorBoardLogger`` that, continuing at step ``s > 0`` (a resumed run), makes TensorBoard
    ignore the events with step ``>= s`` of the folder's earlier event files. The step comes from
    :class:`ResumeCurves` (:meth:`continue_at`), or else is the step of the first value logged."""

    _continued_at: int | None = None

    @rank_zero_only
    def continue_at(self, step: int) -> None:
        if self._continued_at is None:
            self._continued_at = step
            if step > 0:
                purge_tensorboard(self.experiment, step)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if self._continued_at is None and step is not None:
            self.continue_at(int(step))
        super().log_metrics(metrics, step)


def purge_tensorboard(writer: Any, step: int) -> None:
    """Write ``SessionLog.START`` at ``step``, as ``SummaryWriter(purge_step=step)`` does."""
    file_writer = getattr(writer, "file_writer", None)
    if file_writer is None and hasattr(writer, "_get_file_writer"):
        file_writer = writer._get_file_writer()
    if file_writer is None:
        return
    from tensorboard.compat.proto.event_pb2 import Event, SessionLog

    file_writer.add_event(Event(step=step, session_log=SessionLog(status=SessionLog.START)))
    file_writer.flush()


# ------------------------------------------------------------------------------- callback
class ResumeCurves(Callback):
    """Flushes every logger when a checkpoint is saved (and at the next hook, once the rows of the
    checkpoint's step are logged), so a SIGKILL loses nothing the checkpoint covers. At the first
    batch (or validation) of a fit, once the checkpoint is restored, tells the resumable loggers
    the step the curves continue at: the restored step on ``--ckpt_path`` resume, 0 for a fresh
    fit (which then replaces an old metrics.csv, as Lightning does). Warns when a resumed fit logs
    with Lightning's plain CSV or TensorBoard logger. One instance acts (the CLI registers one;
    another one in a config does nothing)."""

    def __init__(self) -> None:
        self._active = False
        self._start_pending = False
        self._flush_pending = False
        self.continued_at: int | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._active = stage == "fit" and next(c for c in trainer.callbacks if isinstance(c, ResumeCurves)) is self
        self._start_pending = self._active

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        plain = [type(lg).__name__ for lg in trainer.loggers if
                 isinstance(lg, (CSVLogger, TensorBoardLogger))
                 and not isinstance(lg, (ResumableCSVLogger, ResumableTensorBoardLogger))]
        if self._active and trainer.ckpt_path is not None and plain:
            rank_zero_warn(f"resuming with {', '.join(plain)}: Lightning's CSVLogger deleted metrics.csv and "
                           "TensorBoard will show the steps logged after the checkpoint twice. Log with "
                           "genie_lit.callbacks.resume.ResumableCSVLogger / ResumableTensorBoardLogger "
                           "(genie-lit fit's defaults) to continue the curves.")

    def _start(self, trainer: L.Trainer) -> None:
        """Nothing is logged yet and the loops are restored: the next step to log is known."""
        if not self._start_pending:
            return
        self._start_pending = False
        self.continued_at = next_log_step(trainer) if trainer.ckpt_path is not None else 0
        for logger in trainer.loggers:
            if isinstance(logger, (ResumableCSVLogger, ResumableTensorBoardLogger)):
                logger.continue_at(self.continued_at)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if self._active:
            flush_loggers(trainer)
            self._flush_pending = True

    def _flush_if_pending(self, trainer: L.Trainer) -> None:
        if self._flush_pending:
            flush_loggers(trainer)
            self._flush_pending = False

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self._start(trainer)
        self._flush_if_pending(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:  # the sanity check logs nothing and runs before the loops are restored
            self._start(trainer)
        self._flush_if_pending(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush_if_pending(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush_if_pending(trainer)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush_if_pending(trainer)


def next_log_step(trainer: L.Trainer) -> int:
    """The step Lightning gives the next row logged during fit (``_batches_that_stepped``)."""
    return int(getattr(trainer.fit_loop.epoch_loop, "_batches_that_stepped", trainer.global_step))


def flush_loggers(trainer: L.Trainer) -> None:
    """Everything logged so far to disk (loggers that have not started are left alone)."""
    for logger in trainer.loggers:
        if getattr(logger, "_experiment", True) is None:
            continue
        logger.save()
        if isinstance(logger, TensorBoardLogger) and hasattr(logger.experiment, "flush"):
            logger.experiment.flush()
