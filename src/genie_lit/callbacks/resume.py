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

The fix, in three parts (the two loggers are in :mod:`genie_lit.loggers`):

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

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_warn

# the loggers lived here before genie_lit.loggers; run folders' saved configs still name this path
from genie_lit.loggers import ResumableCSVLogger, ResumableTensorBoardLogger  # noqa: F401


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
                           "genie_lit.loggers.ResumableCSVLogger / ResumableTensorBoardLogger "
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
