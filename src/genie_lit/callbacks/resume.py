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

- :class:`ResumableCSVLogger` keeps ``metrics.csv``. The first row a process logs has step ``s``:
  rows already in the file with step ``>= s`` were logged by a run killed after its checkpoint
  and are about to be logged again, so they are dropped (as is a row cut by the kill); CSVLogger
  then appends. The rewrite is atomic. A fresh run logs step 0 first, so it starts a new file as
  before.
- :class:`ResumableTensorBoardLogger` writes, before its first value at step ``s > 0``, the
  ``SessionLog.START`` event at step ``s`` that ``SummaryWriter(purge_step=s)`` writes:
  TensorBoard then ignores the earlier files' events with step ``>= s``.
- :class:`ResumeCurves` flushes every logger whenever a checkpoint is saved, and again at the next
  hook (the rows of the checkpoint's step are logged just *after* ``ModelCheckpoint`` saves), so
  everything a checkpoint covers is on disk; and warns on a resumed fit whose loggers are
  Lightning's plain ones.

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
    """CSVLogger's writer without the deletion; drops rows at or after its first step."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        self.continued_at: int | None = None
        self.dropped_rows = 0

    def _check_log_dir_exists(self) -> None:  # Lightning's deletes metrics.csv here
        pass

    def log_metrics(self, metrics_dict: dict[str, float], step: int | None = None) -> None:
        if self.continued_at is None and step is not None:
            self.continued_at = int(step)
            self._continue_at(int(step))
        super().log_metrics(metrics_dict, step)

    def _continue_at(self, step: int) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        header, rows, self.dropped_rows = read_rows_before(path, step)
        if header and rows:
            write_rows(path, header, rows)
            self.metrics_keys = list(header)  # later rows are appended under this header
        else:
            path.unlink()
        if rows:
            rank_zero_info(f"metrics.csv continues at step {step} after {len(rows)} earlier row(s); "
                           f"{self.dropped_rows} row(s) from step {step} on were dropped")


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` survives a resume: rows before the first step this run
    logs are kept, later ones (logged by a killed run after its checkpoint) dropped."""

    @property
    @rank_zero_experiment
    def experiment(self) -> _ContinuingWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(log_dir=self.log_dir)
        return self._experiment


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
    """``TensorBoardLogger`` that, when its first value has step ``s > 0`` (a resumed run), makes
    TensorBoard ignore the events with step ``>= s`` of the folder's earlier event files."""

    _purged = False

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if not self._purged and step is not None:
            self._purged = True
            if step > 0:
                purge_tensorboard(self.experiment, int(step))
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


def resumable_loggers(root: str) -> list:
    """TensorBoard (when installed) and CSV loggers writing into ``root`` itself, both resumable."""
    loggers: list = [ResumableCSVLogger(root, name="", version="")]
    try:
        loggers.insert(0, ResumableTensorBoardLogger(root, name="", version="", default_hp_metric=False))
    except ModuleNotFoundError:
        pass
    return loggers


# ------------------------------------------------------------------------------- callback
class ResumeCurves(Callback):
    """Flushes every logger when a checkpoint is saved (and at the next hook, once the rows of
    the checkpoint's step are logged), so a SIGKILL loses nothing the checkpoint covers; warns
    when a resumed fit logs with Lightning's plain CSV or TensorBoard logger. One instance acts
    (the CLI registers one; another one in a config does nothing)."""

    def __init__(self) -> None:
        self._active = False
        self._flush_pending = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._active = stage == "fit" and next(c for c in trainer.callbacks if isinstance(c, ResumeCurves)) is self

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        plain = [type(lg).__name__ for lg in trainer.loggers if
                 isinstance(lg, (CSVLogger, TensorBoardLogger))
                 and not isinstance(lg, (ResumableCSVLogger, ResumableTensorBoardLogger))]
        if self._active and trainer.ckpt_path is not None and plain:
            rank_zero_warn(f"resuming with {', '.join(plain)}: Lightning's CSVLogger deleted metrics.csv and "
                           "TensorBoard will show the steps logged after the checkpoint twice. Log with "
                           "genie_lit.callbacks.resume.ResumableCSVLogger / ResumableTensorBoardLogger "
                           "(genie-lit fit's defaults) to continue the curves.")

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
        self._flush_if_pending(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush_if_pending(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush_if_pending(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush_if_pending(trainer)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush_if_pending(trainer)


def flush_loggers(trainer: L.Trainer) -> None:
    """Everything logged so far to disk (loggers that have not started are left alone)."""
    for logger in trainer.loggers:
        if getattr(logger, "_experiment", True) is None:
            continue
        logger.save()
        if isinstance(logger, TensorBoardLogger) and hasattr(logger.experiment, "flush"):
            logger.experiment.flush()
