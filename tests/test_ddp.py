"""Two processes on CPU (gloo) through the real CLI and configs/trainer/{ddp,fsdp}.yaml: the FVD and
ΔtPSNR of the rollout callback equal one process on the same checkpoint, and count every clip once.

Lightning refuses FSDP on CPU (``ValueError: The strategy `fsdp` requires a GPU accelerator``) and
torch's FSDP then needs ``device_id=cpu`` to run there, so the FSDP test swaps in
:class:`CPUFSDPStrategy`, which changes only that and keeps every option of fsdp.yaml.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.strategies import FSDPStrategy

from conftest import CONFIGS, QUIET
from genie_lit.cli import main
from test_callbacks import COTRAIN, ROLLOUT, last_values

pytestmark = pytest.mark.slow
TIMEOUT_S = 420
VAL_CLIPS = 6  # tiny data: 1 validation file of 24 frames in clips of 4
# 5 of the 6 clips: the two processes get unequal shares (3 and 2); batch 1: values independent of the split
METRICS = [ROLLOUT, "--trainer.callbacks.max_clips", "5", "--trainer.callbacks.batch_size", "1",
           "--trainer.callbacks.maskgit_steps", "2", "--trainer.callbacks.fvd_size", "64"]
COMPARED = ("val/delta_psnr", "val/psnr_inferred", "val/psnr_random", "val/fvd_random_i3d_64px", "val/rollout_clips")


class ValidationLoopClips(L.Callback):
    """Logs ``val/loop_clips``: the clips that the validation loop's batches held, over all processes."""

    def on_validation_epoch_start(self, trainer, pl_module):
        self.clips = 0

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.clips += batch["video"].shape[0]

    def on_validation_epoch_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            pl_module.log("val/loop_clips", float(self.clips), sync_dist=True, reduce_fx="sum")


class CPUFSDPStrategy(FSDPStrategy):
    """Lightning's FSDPStrategy with torch's FSDP placed on the CPU (``device_id=cpu``), for tests."""

    def _setup_model(self, model: torch.nn.Module) -> torch.nn.Module:
        from lightning.pytorch.strategies.fsdp import _move_torchmetrics_to_device
        from torch.distributed.fsdp import FullyShardedDataParallel

        model = FullyShardedDataParallel(module=model, cpu_offload=self.cpu_offload,
                                         mixed_precision=self.mixed_precision_config,
                                         sharding_strategy=self.sharding_strategy, device_id=torch.device("cpu"),
                                         **self.kwargs)
        _move_torchmetrics_to_device(model, self.root_device)
        return model


def run_two_processes(args: list[str]) -> None:
    """``python -m genie_lit ARGS`` with 2 CPU processes; Lightning launches the second one."""
    tests = str(Path(__file__).parent)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "genie_lit", *args, "--trainer.accelerator", "cpu", "--trainer.devices", "2",
               *QUIET]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"


def single_process_validation(video_dir, tokenizer_ckpt, ckpt, root) -> dict[str, float]:
    main(["validate", *COTRAIN, "--data.data_dir", str(video_dir), "--model.tokenizer_ckpt", str(tokenizer_ckpt),
          "--ckpt_path", str(ckpt), "--trainer.default_root_dir", str(root), *QUIET, *METRICS])
    return last_values(root)


@pytest.fixture(scope="module")
def ddp_run(video_dir, tokenizer_ckpt, tmp_path_factory) -> Path:
    """Two training steps with DDP, then one validation with the rollout metrics."""
    root = tmp_path_factory.mktemp("ddp")
    run_two_processes(["fit", *COTRAIN, "--config", str(CONFIGS / "trainer" / "ddp.yaml"),
                       "--data.data_dir", str(video_dir), "--model.tokenizer_ckpt", str(tokenizer_ckpt),
                       "--trainer.max_steps", "2", "--trainer.val_check_interval", "2",
                       "--trainer.default_root_dir", str(root), *METRICS,
                       "--trainer.callbacks+=test_ddp.ValidationLoopClips"])
    return root


def test_ddp_fit_writes_the_metrics_equal_to_one_process_and_counts_each_clip_once(
        ddp_run, video_dir, tokenizer_ckpt, tmp_path):
    synced = last_values(ddp_run)
    assert synced["val/rollout_clips"] == 5  # 3 + 2 clips: none padded, none repeated
    # the final validation ran on the weights of the last checkpoint: one process must agree exactly
    alone = single_process_validation(video_dir, tokenizer_ckpt, ddp_run / "checkpoints" / "last.ckpt", tmp_path)
    for name in COMPARED:
        assert synced[name] == pytest.approx(alone[name], rel=1e-6, abs=1e-6), name


def test_ddp_validation_loop_sees_every_clip_once(ddp_run):
    assert last_values(ddp_run)["val/loop_clips"] == VAL_CLIPS


def test_fsdp_config_runs_the_callbacks_with_gathered_weights_and_matches_one_process(
        video_dir, tokenizer_ckpt, world_ckpt, tmp_path):
    """fsdp.yaml (transformer blocks as FSDP units, frozen tokenizer in the same module): the
    callbacks roll out inside summon_full_params, both processes in lockstep (3 and 2 clips)."""
    run_two_processes(["validate", *COTRAIN, "--config", str(CONFIGS / "trainer" / "fsdp.yaml"),
                       "--trainer.strategy.class_path", "test_ddp.CPUFSDPStrategy", "--trainer.precision", "32-true",
                       "--data.data_dir", str(video_dir), "--model.tokenizer_ckpt", str(tokenizer_ckpt),
                       "--ckpt_path", str(world_ckpt), "--trainer.default_root_dir", str(tmp_path / "fsdp"), *METRICS,
                       "--trainer.callbacks+=genie_lit.callbacks.RolloutVideos", "--trainer.callbacks.num_prompts",
                       "1", "--trainer.callbacks.maskgit_steps", "1"])
    sharded = last_values(tmp_path / "fsdp")
    alone = single_process_validation(video_dir, tokenizer_ckpt, world_ckpt, tmp_path / "one")
    for name in COMPARED:
        assert sharded[name] == pytest.approx(alone[name], rel=1e-6, abs=1e-6), name
    assert len(list((tmp_path / "fsdp" / "videos").glob("*.mp4"))) == 2
