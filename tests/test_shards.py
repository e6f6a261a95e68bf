"""Streamed shards: ``genie-lit prepare`` writes the folder's clips (bit-exact, corrupt files counted),
and ``StreamingVideoDataModule`` serves them seeded, sharded across 2 DDP processes (disjoint, whole
epoch) and resumable mid-epoch from a Lightning checkpoint without repeating or skipping a clip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

pytest.importorskip("litdata", reason="streamed shards need the [shards] extra (litdata)")

from conftest import QUIET
from genie_lit.cli import main
from genie_lit.data import StreamingVideoDataModule, VideoDataModule
from videos import truncate_file, write_dataset

CLIP, SIZE = 4, 32
TRAIN_CLIPS = 24  # 4 training files of 24 frames in clips of 4 (the 5th file is the validation split)


class ClipRecorder(L.LightningModule):
    """A one-parameter model that appends the ``index`` of every clip it trains on to
    ``OUT/seen_rank{r}.txt`` and raises at step ``kill_at`` (a crash after the checkpoint of the step before)."""

    def __init__(self, out: str, kill_at: int = -1) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.out, self.kill_at = Path(out), kill_at

    def training_step(self, batch, batch_idx):
        if self.global_step == self.kill_at:
            raise RuntimeError("killed")
        with open(self.out / f"seen_rank{self.global_rank}.txt", "a") as file:
            file.write("".join(f"{i}\n" for i in batch["index"].tolist()))
        return (self.weight * batch["video"].mean() - 1) ** 2

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def seen(out: Path, rank: int = 0) -> list[int]:
    path = out / f"seen_rank{rank}.txt"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """5 episodes of 24 frames (one held out for validation), one corrupt file and one not video."""
    root = tmp_path_factory.mktemp("folder")
    write_dataset(root, num_files=5, num_frames=24, size=64)
    truncate_file(write_dataset(root / "broken", num_files=1, num_frames=24, size=64)[0], 0.3)
    (root / "notes.mp4").write_text("not a video")
    return root


@pytest.fixture(scope="module")
def shards(folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shards") / "shards"
    assert main(["prepare", "--data", str(folder), "--out", str(out), "--clip-length", str(CLIP), "--resolution",
                 str(SIZE), "--chunk-bytes", "8kB", "--quiet"]) == 0
    return out


def test_prepare_writes_the_video_data_modules_clips_bit_exactly_and_counts_the_unreadable(folder, shards):
    meta = json.loads((shards / "genie_lit_shards.json").read_text())
    assert sorted(meta["report"]["unreadable"]) == ["broken/ep000.mp4", "notes.mp4"]
    videos = VideoDataModule(str(folder), clip_length=CLIP, resolution=SIZE, cache_index=False)
    with pytest.warns(UserWarning, match="skipped 2 of 7"):
        videos.setup("fit")
    streamed = StreamingVideoDataModule(str(shards), batch_size=1, shuffle=False)
    for split in ("train", "val"):
        expected = videos.datasets[split]
        assert meta["report"]["clips"][split] == len(expected)
        loader = streamed.train_dataloader() if split == "train" else streamed.val_dataloader()
        for i, batch in enumerate(loader):
            assert batch["index"].item() == i
            assert torch.equal(batch["video"][0], expected[i]["video"])  # lossless: the same pixels
            assert torch.equal(batch["actions"][0], expected[i]["actions"])
    assert len(list((shards / "train").glob("chunk-*.bin"))) > 1  # chunked
    assert 0 < meta["report"]["shard_bytes"]


def test_training_order_is_a_function_of_the_seed(shards):
    def order(seed):
        loader = StreamingVideoDataModule(str(shards), batch_size=4, seed=seed).train_dataloader()
        return [i for batch in loader for i in batch["index"].tolist()]

    first = order(0)
    assert sorted(first) == list(range(TRAIN_CLIPS))
    assert order(0) == first
    assert order(1) != first


def fit_args(shards: Path, root: Path, *extra: str) -> list[str]:
    return ["fit", "--model", "test_shards.ClipRecorder", "--model.out", str(root),
            "--data", "genie_lit.data.StreamingVideoDataModule", "--data.shards_dir", str(shards),
            "--data.batch_size", "2", "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "0",
            "--trainer.default_root_dir", str(root), "--trainer.logger", "false", *QUIET, *extra]


def test_a_run_killed_mid_epoch_resumes_without_repeating_or_skipping_a_clip(shards, tmp_path):
    every_step = ["--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
                  "--trainer.callbacks.every_n_train_steps", "1", "--trainer.callbacks.save_last", "true"]
    with pytest.raises(RuntimeError, match="killed"):
        main(fit_args(shards, tmp_path, "--model.kill_at", "3", *every_step))
    before = seen(tmp_path)
    assert len(before) == 6  # 3 steps of 2 clips, then the crash
    main(fit_args(shards, tmp_path, "--ckpt_path", str(tmp_path / "checkpoints" / "last.ckpt")))
    after = seen(tmp_path)[len(before):]
    assert len(after) == TRAIN_CLIPS - 6
    assert sorted(before + after) == list(range(TRAIN_CLIPS))


@pytest.mark.slow
def test_two_ddp_processes_see_disjoint_clips_whose_union_is_the_epoch(shards, tmp_path):
    tests = str(Path(__file__).parent)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "genie_lit", *fit_args(shards, tmp_path), "--trainer.accelerator", "cpu",
               "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [seen(tmp_path, 0), seen(tmp_path, 1)]
    assert len(ranks[0]) == len(ranks[1]) == TRAIN_CLIPS // 2
    assert not set(ranks[0]) & set(ranks[1])
    assert sorted(ranks[0] + ranks[1]) == list(range(TRAIN_CLIPS))


def test_token_shards_serve_the_tokenizers_codes_and_train_the_dynamics(video_dir, tokenizer_ckpt, tmp_path):
    """`prepare --tokenizer-ckpt` stores each clip's codes; StreamingTokenDataModule serves them with the
    recorded actions, and the dynamics config fits over them."""
    from genie_lit.data import StreamingTokenDataModule
    from genie_lit.models.checkpoints import load_module
    from genie_lit.models.tokenizer import VideoTokenizer

    out = tmp_path / "tokens"
    assert main(["prepare", "--data", str(video_dir), "--out", str(out), "--clip-length", str(CLIP),
                 "--tokenizer-ckpt", str(tokenizer_ckpt), "--device", "cpu", "--quiet"]) == 0
    tokenizer = load_module(tokenizer_ckpt, VideoTokenizer)
    videos = StreamingVideoDataModule(str(out), batch_size=3, shuffle=False).train_dataloader()
    tokens = StreamingTokenDataModule(str(out), actions="recorded", batch_size=3, shuffle=False).train_dataloader()
    video_batch, token_batch = next(iter(videos)), next(iter(tokens))
    assert set(token_batch) == {"tokens", "actions", "game", "index"}
    expected = tokenizer.quantize(video_batch["video"]).indices.reshape(3, CLIP, *tokenizer.grid)
    assert torch.equal(token_batch["tokens"], expected)
    assert torch.equal(token_batch["actions"], video_batch["actions"])
    with pytest.raises(ValueError, match="--lam-ckpt"):
        StreamingTokenDataModule(str(out), actions="lam")
    from conftest import CONFIGS

    main(["fit", "--config", str(CONFIGS / "dynamics" / "maskgit.yaml"), "--data", "genie_lit.data.StreamingTokenDataModule",
          "--data.shards_dir", str(out), "--data.actions", "recorded", "--data.batch_size", "2",
          "--model.vocab_size", str(tokenizer.codebook_size), "--model.grid", json.dumps(list(tokenizer.grid)),
          "--model.num_actions", "5", "--model.backbone.init_args.dim", "32", "--model.backbone.init_args.depth", "1",
          "--model.backbone.init_args.num_heads", "2",
          "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1", "--trainer.val_check_interval", "2",
          "--trainer.default_root_dir", str(tmp_path / "dynamics"), "--trainer.logger", "false", *QUIET])
    assert (tmp_path / "dynamics" / "checkpoints" / "last.ckpt").exists()


def test_prepare_refuses_to_write_over_its_input_or_an_existing_folder(folder, shards, capsys):
    assert main(["prepare", "--data", str(folder), "--out", str(folder), "--overwrite"]) == 1
    assert "would hold the video folder" in capsys.readouterr().err
    assert main(["prepare", "--data", str(folder), "--out", str(shards)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (folder / "ep000.mp4").exists()
