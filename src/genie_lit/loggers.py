"""Loggers whose curves continue after a crash: ``genie-lit fit ... --ckpt_path last`` after a SIGKILL.

Lightning 2.6's ``CSVLogger`` *deletes* ``metrics.csv`` when its writer starts in a folder that
holds one, and its ``TensorBoardLogger`` keeps the killed run's events logged after the last
checkpoint, which the resumed run logs again (two values per step). These two loggers fix that
when told the step ``s`` the curves continue at (:meth:`continue_at`):

- :class:`ResumableCSVLogger` keeps ``metrics.csv``, drops its rows with step ``>= s`` and a row
  cut by the kill (rewriting the file atomically), and appends after the rest;
- :class:`ResumableTensorBoardLogger`, continuing at ``s > 0``, first writes the
  ``SessionLog.START`` event at step ``s`` that ``SummaryWriter(purge_step=s)`` writes:
  TensorBoard then ignores the earlier files' events with step ``>= s``.

Without being told, each takes the step of its first row. The callback
:class:`genie_lit.callbacks.ResumeCurves` tells them ``s`` and flushes them at every checkpoint
(what "step" means and why is in :mod:`genie_lit.callbacks.resume`). ``genie-lit fit`` uses both
loggers by default.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only


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
