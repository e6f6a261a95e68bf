"""The data-quality filter: the bootstrap rules name black, static, menu and scene-cut clips; the
classifier trains through `genie-lit fit --config configs/quality/classifier.yaml` on the labels
`genie-lit prepare --auto-labels` writes; `prepare --quality-ckpt --min-score` keeps play and drops junk."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import CONFIGS, QUIET
from genie_lit.cli import main
from genie_lit.quality import auto_label, read_labels
from videos import moving_square_frames, write_video

FRAMES, SIZE, CLIP = 16, 32, 8


def junk(kind: str, seed: int = 0) -> np.ndarray:
    """``FRAMES`` frames of one kind of junk clip."""
    rng = np.random.default_rng(seed)
    if kind == "black":
        return rng.integers(0, 6, (FRAMES, SIZE, SIZE, 3), dtype=np.uint8)
    screen = (rng.random((SIZE, SIZE, 3)) * 200).astype(np.uint8)
    frames = np.repeat(screen[None], FRAMES, axis=0)
    if kind == "menu":  # a title screen with a blinking 1-pixel cursor
        frames[::2, 3, 3] = 255
    if kind == "cut":
        frames[FRAMES // 2:] = 255 - frames[FRAMES // 2:]
    return frames


@pytest.mark.parametrize("kind, expected", [("black", (1, "black")), ("static", (1, "static")),
                                            ("menu", (2, "menu")), ("cut", (2, "scene cut"))])
def test_bootstrap_rules_name_each_kind_of_junk(kind, expected):
    assert auto_label(junk(kind)) == expected


def test_bootstrap_rules_score_play_five():
    assert auto_label(moving_square_frames(FRAMES, SIZE, SIZE)[0]) == (5, "play")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """6 episodes of play and 6 of junk (2 black, 2 static, 1 menu, 1 cut), 16 frames each."""
    root = tmp_path_factory.mktemp("mixed")
    for i in range(6):
        write_video(root / f"play{i}.mp4", moving_square_frames(FRAMES, SIZE, SIZE, seed=i)[0])
    for i, kind in enumerate(["black", "static", "menu", "cut", "black", "static"]):
        write_video(root / f"junk{i}_{kind}.mp4", junk(kind, seed=i))
    return root


@pytest.mark.slow
def test_auto_labels_then_classifier_then_filtered_shards(mixed, tmp_path):
    pytest.importorskip("litdata", reason="streamed shards need the [shards] extra (litdata)")
    labels = mixed / "quality_labels.csv"
    args = ["--data", str(mixed), "--clip-length", str(CLIP), "--resolution", str(SIZE), "--quiet"]
    assert main(["prepare", *args, "--auto-labels", str(labels)]) == 0
    rows = read_labels(labels)
    assert len(rows) == 24  # 12 files x 2 clips
    by_file = {clip: score for clip, _, score in rows}
    assert all(score == 5 for clip, score in by_file.items() if clip.startswith("play"))
    assert all(score <= 2 for clip, score in by_file.items() if clip.startswith("junk"))

    root = tmp_path / "quality"
    main(["fit", "--config", str(CONFIGS / "quality" / "classifier.yaml"), "--data.data_dir", str(mixed),
          "--data.clip_length", str(CLIP), "--data.resolution", str(SIZE), "--data.batch_size", "8",
          "--data.val_fraction", "0", "--model.image_size", str(SIZE), "--model.backbone.init_args.dim", "32",
          "--model.backbone.init_args.depth", "1", "--trainer.max_steps", "30", "--trainer.val_check_interval", "30",
          "--trainer.default_root_dir", str(root), "--trainer.logger", "false", *QUIET])
    ckpt = root / "checkpoints" / "last.ckpt"
    out = tmp_path / "shards"
    assert main(["prepare", *args, "--out", str(out), "--val-fraction", "0", "--quality-ckpt", str(ckpt),
                 "--min-score", "3"]) == 0
    report = json.loads((out / "genie_lit_shards.json").read_text())["report"]
    assert report["scored"] == 24
    assert report["clips"]["train"] == 24 - report["dropped"]
    from genie_lit.data import StreamingVideoDataModule

    loader = StreamingVideoDataModule(str(out), batch_size=4, shuffle=False).train_dataloader()
    kept = [loader.dataset[i]["index"].item() for i in range(len(loader.dataset))]
    assert kept == list(range(24 - report["dropped"]))
    from litdata import StreamingDataset

    sources = {StreamingDataset(str(out / "train"))[i]["source"].split("#")[0] for i in range(len(kept))}
    assert sources == {f"play{i}.mp4" for i in range(6)}  # every play clip kept, every junk clip dropped


def test_labels_csv_errors_name_the_problem(tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("file,quality\na.mp4,3\n")
    with pytest.raises(ValueError, match="clip and score"):
        read_labels(bad)
    bad.write_text("clip,score\na.mp4,7\n")
    with pytest.raises(ValueError, match="outside 1-5"):
        read_labels(bad)
    with open(bad, "w", newline="") as file:
        csv.writer(file).writerows([["clip", "score"], ["a.mp4#x", "3"]])
    with pytest.raises(ValueError, match="line 2"):
        read_labels(bad)
