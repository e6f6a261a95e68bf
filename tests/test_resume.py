"""Resume after a crash: a real ``genie-lit fit`` subprocess is killed with SIGKILL mid-epoch and
resumed with ``--ckpt_path last``; the curves (metrics.csv and TensorBoard) continue without gaps
or duplicates (:class:`~genie_lit.callbacks.resume.ResumeCurves`)."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from conftest import CONFIGS, TINY
from genie_lit.callbacks.resume import ResumeCurves
from genie_lit.loggers import ResumableCSVLogger, ResumableTensorBoardLogger, read_rows_before

INTERVAL = 3  # checkpoint every 3 training steps, validation every 3 batches (9 batches per epoch)
FINAL_STEPS = 12
CONFIG = """
trainer:
  logger:
    - class_path: genie_lit.loggers.ResumableTensorBoardLogger
      init_args: {{save_dir: {root}, name: "", version: "", default_hp_metric: false}}
    - class_path: genie_lit.loggers.ResumableCSVLogger
      init_args: {{save_dir: {root}, name: "", version: ""}}
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {{save_last: true, every_n_train_steps: {interval}}}
    - class_path: genie_lit.callbacks.resume.ResumeCurves
"""


def fit_command(root: Path, data: Path, callbacks: Path, max_steps: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "genie_lit", "fit", "--config", str(CONFIGS / "tokenizer" / "st_vivit.yaml"),
            "--config", str(TINY / "tiny_tokenizer.yaml"), "--config", str(callbacks), "--data.data_dir", str(data),
            "--trainer.default_root_dir", str(root), "--trainer.max_steps", str(max_steps),
            "--trainer.log_every_n_steps", "1", "--trainer.val_check_interval", str(INTERVAL),
            "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false", *extra]


def rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as file:
        return [row for row in csv.DictReader(file) if (row.get("step") or "").isdigit()]


def steps_with(table: list[dict[str, str]], name: str) -> list[int]:
    return [int(row["step"]) for row in table if row.get(name)]


def checkpoint_step(path: Path) -> int | None:
    try:  # ModelCheckpoint replaces last.ckpt atomically: it is the old file or the new one
        return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])
    except (FileNotFoundError, RuntimeError, EOFError):
        return None


def kill_mid_interval(process: subprocess.Popen, root: Path, timeout: float = 150) -> tuple[int, list[dict]]:
    """SIGKILL the run at a moment when metrics.csv holds rows logged after its last checkpoint;
    returns that checkpoint's global step and the rows on disk at the kill. The run is frozen
    (SIGSTOP) while its files are inspected, so they do not change under the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the training run ended before it could be killed (exit code {process.returncode})")
        if any(step >= INTERVAL for step in steps_with(rows(root / "metrics.csv"), "train/loss")):
            process.send_signal(signal.SIGSTOP)
            ckpt = checkpoint_step(root / "checkpoints" / "last.ckpt")
            table = rows(root / "metrics.csv")
            if ckpt is not None and any(step >= ckpt for step in steps_with(table, "train/loss")):
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
                return ckpt, table
            process.send_signal(signal.SIGCONT)
        time.sleep(0.02)
    process.kill()
    raise AssertionError("no checkpoint followed by logged rows within the timeout")


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_from_last_and_its_curves_have_no_gap_or_duplicate(video_dir, tmp_path):
    root, callbacks = tmp_path / "run", tmp_path / "callbacks.yaml"
    callbacks.write_text(CONFIG.format(root=root, interval=INTERVAL))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    log = open(tmp_path / "killed.log", "w")
    process = subprocess.Popen(fit_command(root, video_dir, callbacks, 1000), stdout=log, stderr=subprocess.STDOUT,
                               env=env)
    try:
        ckpt, before = kill_mid_interval(process, root)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    assert process.returncode == -signal.SIGKILL
    lost = max(steps_with(before, "train/loss")) + 1 - ckpt  # training steps done after the checkpoint
    assert ckpt % INTERVAL == 0 and 0 < ckpt < FINAL_STEPS and 1 <= lost <= INTERVAL  # at most one interval lost
    assert ckpt % 9 != 0 or lost < 9  # mid-epoch: 9 batches per epoch

    resumed = subprocess.run(fit_command(root, video_dir, callbacks, FINAL_STEPS, "--ckpt_path", "last"),
                             capture_output=True, text=True, env=env, timeout=240)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    output = resumed.stdout + resumed.stderr
    assert "Restored all states from the checkpoint" in output
    assert int(re.search(r"metrics.csv continues at step (\d+)", output).group(1)) == ckpt  # from the checkpoint
    assert checkpoint_step(root / "checkpoints" / "last.ckpt") == FINAL_STEPS

    after = rows(root / "metrics.csv")
    assert steps_with(after, "train/loss") == list(range(FINAL_STEPS))  # every step once, in order
    assert steps_with(after, "val/loss") == [INTERVAL * k - 1 for k in range(1, FINAL_STEPS // INTERVAL + 1)]
    kept = [row for row in before if int(row["step"]) < ckpt]
    assert [r for r in after if int(r["step"]) < ckpt] == kept  # the rows the checkpoint covers, unchanged
    assert not list(root.glob("*.tmp"))

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(root))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == list(range(FINAL_STEPS))


def test_read_rows_before_keeps_earlier_steps_and_drops_later_and_cut_rows(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train/loss\n0,0,1.0\n0,1,0.9\n0,2,0.8\n0,3,0.7\n0,4,0.6\n0,5")
    header, kept, dropped = read_rows_before(path, 3)
    assert header == ["epoch", "step", "train/loss"]
    assert kept == [["0", "0", "1.0"], ["0", "1", "0.9"], ["0", "2", "0.8"]] and dropped == 3


def test_resumable_csv_logger_keeps_rows_before_its_first_step_and_appends_after_them(tmp_path):
    """A killed run left steps 0-4 (and a row cut mid-write); the resumed run logs from step 3:
    rows 0-2 stay, 3-4 and the cut row go, new rows (with a new column) follow."""
    (tmp_path / "metrics.csv").write_text("epoch,step,train/loss\n0,0,1.0\n0,1,0.9\n0,2,0.8\n0,3,0.7\n0,4,0.6\n0,5")
    logger = ResumableCSVLogger(tmp_path, name="", version="")
    logger.log_metrics({"train/loss": 0.5}, step=3)
    logger.save()
    logger.log_metrics({"train/loss": 0.4, "val/loss": 0.3}, step=4)
    logger.save()
    table = rows(tmp_path / "metrics.csv")
    assert [(r["step"], r["train/loss"], r.get("val/loss") or "") for r in table] == [
        ("0", "1.0", ""), ("1", "0.9", ""), ("2", "0.8", ""), ("3", "0.5", ""), ("4", "0.4", "0.3")]
    assert logger.experiment.dropped_rows == 3


def test_resumable_csv_logger_starting_at_step_0_replaces_the_file_like_lightning(tmp_path):
    (tmp_path / "metrics.csv").write_text("step,train/loss\n0,1.0\n1,0.9\n")
    logger = ResumableCSVLogger(tmp_path, name="", version="")
    logger.log_metrics({"train/loss": 0.5}, step=0)
    logger.save()
    assert [(r["step"], r["train/loss"]) for r in rows(tmp_path / "metrics.csv")] == [("0", "0.5")]


def test_resumable_tensorboard_logger_makes_tensorboard_ignore_the_earlier_files_later_events(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    killed = SummaryWriter(str(tmp_path))
    for step in range(6):
        killed.add_scalar("train/loss", 1.0, step)
    killed.close()
    time.sleep(1.1)  # event files are ordered by the timestamp in their name
    logger = ResumableTensorBoardLogger(tmp_path, name="", version="", default_hp_metric=False)
    for step in (3, 4):
        logger.log_metrics({"train/loss": 0.5}, step=step)
    logger.finalize("success")
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    values = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert values == [(0, 1.0), (1, 1.0), (2, 1.0), (3, 0.5), (4, 0.5)]


class Regression(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch[0]).pow(2).mean()
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit_regression(root: Path, max_steps: int, ckpt_path: str | None = None, log_every: int = 1) -> None:
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(root / "checkpoints", save_last=True, every_n_train_steps=3)
    trainer = L.Trainer(max_steps=max_steps, log_every_n_steps=log_every, default_root_dir=root,
                        logger=[ResumableCSVLogger(root, name="", version="")], callbacks=[checkpoint, ResumeCurves()],
                        enable_progress_bar=False, enable_model_summary=False)
    data = DataLoader(TensorDataset(torch.randn(80, 2)), batch_size=4)
    trainer.fit(Regression(), data, ckpt_path=ckpt_path)


def test_a_resumed_fit_continues_metrics_csv_at_the_restored_step(tmp_path):
    """Rows a killed run logged after its checkpoint (faked here: steps 6-7 after the step-6
    checkpoint, and a cut row) are replaced by the resumed run's."""
    fit_regression(tmp_path, 6)
    with open(tmp_path / "metrics.csv", "a") as file:
        file.write("0,6,99.0\n0,7,99.0\n0,8")
    fit_regression(tmp_path, 9, ckpt_path="last")
    table = rows(tmp_path / "metrics.csv")
    assert steps_with(table, "train/loss") == list(range(9)) and "99.0" not in [r["train/loss"] for r in table]


def test_a_fresh_fit_in_an_old_folder_starts_a_new_metrics_csv(tmp_path):
    """Its first row is at step 4 (log every 5 steps): the old rows 0-3 must not survive."""
    (tmp_path / "metrics.csv").write_text("epoch,step,train/loss\n0,0,9.0\n0,1,9.0\n0,2,9.0\n0,3,9.0\n")
    fit_regression(tmp_path, 10, log_every=5)
    assert steps_with(rows(tmp_path / "metrics.csv"), "train/loss") == [4, 9]


def shipped_checkpoint_settings() -> dict[str, dict]:
    """The ModelCheckpoint init_args of every shipped config that saves checkpoints, by config."""
    import yaml

    found = {}
    for path in sorted(CONFIGS.rglob("*.yaml")):
        callbacks = ((yaml.safe_load(path.read_text()) or {}).get("trainer") or {}).get("callbacks") or []
        for callback in callbacks:
            if callback.get("class_path", "").endswith("ModelCheckpoint"):
                found[str(path.relative_to(CONFIGS))] = callback.get("init_args") or {}
    return found


def test_a_moved_run_folder_resumes_into_last_ckpt_with_the_shipped_checkpoint_settings(tmp_path):
    """Lightning's version counter names a resumed run's last checkpoint ``last-v1.ckpt`` when the
    run folder was moved or copied since its first fit, leaving ``last.ckpt`` stale; every shipped
    config turns the counter off, so ``--ckpt_path last`` always finds the newest weights."""
    settings = shipped_checkpoint_settings()
    assert len(settings) >= 10 and all(s.get("enable_version_counter") is False for s in settings.values()), settings
    data = DataLoader(TensorDataset(torch.randn(80, 2)), batch_size=4)

    def fit(root: Path, steps: int, counter: bool, ckpt_path: str | None = None) -> None:
        checkpoint = L.pytorch.callbacks.ModelCheckpoint(root / "checkpoints", save_last=True, every_n_train_steps=3,
                                                         enable_version_counter=counter)
        L.Trainer(max_steps=steps, default_root_dir=root, logger=False, callbacks=[checkpoint],
                  enable_progress_bar=False, enable_model_summary=False).fit(Regression(), data, ckpt_path=ckpt_path)

    for counter in (True, False):
        first, moved = tmp_path / f"first_{counter}", tmp_path / f"moved_{counter}"
        fit(first, 3, counter)
        first.rename(moved)
        fit(moved, 6, counter, ckpt_path=str(moved / "checkpoints" / "last.ckpt"))
        step = torch.load(moved / "checkpoints" / "last.ckpt", weights_only=False)["global_step"]
        # Lightning's default (the counter on) is the failure this guards against
        assert (step, (moved / "checkpoints" / "last-v1.ckpt").exists()) == ((3, True) if counter else (6, False))
