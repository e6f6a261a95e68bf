"""The video data pipeline on real (tiny) files, messy ones included."""

import json
import os
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from videos import index_frames, moving_square_frames, truncate_file, write_dataset, write_video
from genie_lit.data import ClipDataset, VideoDataModule, VideoEntry
from genie_lit.data import scan_folder, split_files
from genie_lit.media import VideoInfo, VideoReadError, probe, read_frames
from genie_lit.media import read as media_read
from genie_lit.data.index import INDEX_FILE


def _squares(num_frames=40, size=32, seed=0):
    return moving_square_frames(num_frames, size, size, seed=seed)[0]


def _datamodule(root, **kwargs):
    defaults = dict(clip_length=8, resolution=32, batch_size=2, val_fraction=0.0, fps=15)
    return VideoDataModule(str(root), **{**defaults, **kwargs})


# --- reading: seeks, pixel formats, frame rates -------------------------------------------------

CONTAINERS = {
    "lossless.mp4": dict(codec="libx264rgb", pix_fmt="rgb24", options={"qp": "0", "g": "8"}),
    "bframes.mp4": dict(codec="libx264", pix_fmt="yuv420p", options={"g": "12", "bf": "3"}),
    "matroska.mkv": dict(codec="libx264", pix_fmt="yuv444p", options={"g": "5"}),
    "mpeg4.avi": dict(codec="mpeg4", pix_fmt="yuv420p", options={"g": "10"}),
    "palette.gif": dict(codec="gif", pix_fmt="rgb8", options={}),
}


@pytest.mark.parametrize("name", CONTAINERS)
def test_seeking_reads_the_same_frames_as_decoding_everything(tmp_path, name):
    path = write_video(tmp_path / name, _squares(40), **CONTAINERS[name])
    info = probe(path)
    assert info.num_frames == 40
    everything = read_frames(path, list(range(40)), (16, 16), info.fps)
    rng = np.random.default_rng(0)
    for _ in range(8):
        indices = sorted(rng.choice(40, size=5, replace=False).tolist())
        np.testing.assert_array_equal(read_frames(path, indices, (16, 16), info.fps), everything[indices])


def test_lossless_file_reads_back_bit_exactly_in_the_order_asked(tmp_path):
    frames = _squares(20)
    path = write_video(tmp_path / "a.mp4", frames)
    np.testing.assert_array_equal(read_frames(path, [13, 2, 13, 19], None, 15.0), frames[[13, 2, 13, 19]])


def test_a_clip_read_decodes_from_the_keyframe_not_the_whole_file(tmp_path, monkeypatch):
    path = write_video(tmp_path / "long.mp4", index_frames(50), options={"qp": "0", "g": "8"})
    decoded = []
    real_open = av.open

    class CountingContainer:
        def __init__(self, *args, **kwargs):
            self.container = real_open(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.container, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.container.close()

        def decode(self, *args, **kwargs):
            for frame in self.container.decode(*args, **kwargs):
                decoded.append(frame.pts)
                yield frame

    monkeypatch.setattr(media_read.av, "open", CountingContainer)
    frames = read_frames(path, [44, 45, 46, 47], None, 15.0)
    assert frames[:, 0, 0, 0].tolist() == [16 + 4 * i for i in (44, 45, 46, 47)]
    assert 4 <= len(decoded) <= 8 + 4  # at most one keyframe interval before the clip


def test_grayscale_becomes_rgb(tmp_path):
    levels = index_frames(6)[..., 0]  # t h w
    exact = read_frames(write_video(tmp_path / "grey.mov", levels, codec="png", pix_fmt="gray"), [0, 5], None, 15.0)
    assert exact.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(exact, np.stack([levels[[0, 5]]] * 3, axis=-1))
    # H.264 grey is limited-range luma: channels stay equal, levels expand from 16..235 to 0..255
    h264 = read_frames(write_video(tmp_path / "grey.mp4", levels, codec="libx264", pix_fmt="gray",
                                   options={"qp": "0"}), list(range(6)), (8, 8), 15.0)
    assert (h264[..., 0] == h264[..., 1]).all() and (h264[..., 1] == h264[..., 2]).all()
    assert np.all(np.diff(h264[:, 0, 0, 0].astype(int)) > 0)


def test_alpha_is_composited_over_black(tmp_path):
    rgb = _squares(6)
    alpha = np.full(rgb.shape[:3] + (1,), 255, np.uint8)
    alpha[:, :, :10] = 0  # the left 10 columns fully transparent
    path = write_video(tmp_path / "alpha.mov", np.concatenate([rgb, alpha], -1), codec="png", pix_fmt="rgba")
    frames = read_frames(path, [0, 3], None, 15.0)
    assert frames.shape == (2, 32, 32, 3)
    assert (frames[:, :, :10] == 0).all()
    np.testing.assert_array_equal(frames[:, :, 10:], rgb[[0, 3], :, 10:])


def test_palette_gif_reads_as_rgb(tmp_path):
    frames = np.zeros((10, 24, 24, 3), np.uint8)
    for t in range(10):  # colours a 3-3-2 bit palette holds (255 comes back as 7 * 36 = 252)
        frames[t, 4:10, 2 * t:2 * t + 6] = (255, 255, 0)
    path = write_video(tmp_path / "anim.gif", frames, fps=10, codec="gif", pix_fmt="rgb8", options={})
    info = probe(path)
    assert (info.num_frames, info.fps) == (10, 10.0)
    decoded = read_frames(path, list(range(10)), None, info.fps)
    assert decoded.shape == (10, 24, 24, 3)
    assert np.abs(decoded.astype(int) - frames).max() <= 3


def test_variable_frame_rate_shows_the_previous_frame_where_one_was_dropped(tmp_path):
    kept = [i for i in range(30) if i % 4 != 3]  # a recorder that dropped every 4th (repeated) frame
    path = write_video(tmp_path / "vfr.mp4", index_frames(30)[kept], fps=30, pts=[i * 3000 for i in kept],
                       time_base=Fraction(1, 90000))
    info = probe(path)
    assert info.fps == 30.0 and info.num_frames == 30  # the capture rate and timeline, not the average
    levels = read_frames(path, list(range(30)), (4, 4), info.fps)[:, 0, 0, 0]
    expected = [16 + 4 * (i - 1 if i % 4 == 3 else i) for i in range(30)]
    assert levels.tolist() == expected


def test_other_resolution_and_frame_rate_come_out_at_the_configured_ones(tmp_path):
    write_video(tmp_path / "fast_small.mp4", index_frames(48, 24, 40), fps=30)  # 30 fps, 24x40
    write_video(tmp_path / "slow_big.mp4", index_frames(24, 96, 96), fps=15)
    dm = _datamodule(tmp_path, clip_length=6, resolution=(32, 48), fps=15)
    dm.setup("fit")
    items = [dm.datasets["train"][i] for i in range(len(dm.datasets["train"]))]
    assert {tuple(item["video"].shape) for item in items} == {(6, 3, 32, 48)}
    for item in items:  # consecutive clip frames are 1/15 s apart in both files: 2 source frames at 30 fps
        levels = (item["video"][:, 0, 0, 0] * 255).round().long()
        steps = levels.diff().unique().tolist()
        assert steps in ([8], [4])  # level step 4 per source frame
    fast = [item for item in items if (item["video"][1, 0, 0, 0] - item["video"][0, 0, 0, 0]) * 255 > 6]
    assert len(fast) == 4  # 48 frames at 30 fps = 24 at 15 fps = 4 clips of 6


# --- bad input --------------------------------------------------------------------------------


def _messy_folder(root: Path) -> Path:
    write_dataset(root, num_files=3, num_frames=24, size=32)
    truncate_file(write_video(root / "truncated.mp4", _squares(24)))
    (root / "notes.mp4").write_text("this is a text file with a video extension\n")
    (root / "empty.mp4").touch()
    (root / "readme.txt").write_text("not considered: not a video extension")
    return root


def test_corrupt_truncated_empty_and_text_files_are_skipped_with_one_summary_warning(tmp_path):
    root = _messy_folder(tmp_path)
    scan = scan_folder(root)
    assert sorted(scan.skipped) == ["empty.mp4", "notes.mp4", "truncated.mp4"]
    assert len(scan.videos) == 3
    dm = _datamodule(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm.setup("fit")
    summaries = [w for w in caught if "skipped" in str(w.message)]
    assert len(summaries) == 1
    assert "skipped 3 of 6 video file(s)" in str(summaries[0].message)
    assert "3 unreadable" in str(summaries[0].message)


def test_probe_names_the_problem(tmp_path):
    (tmp_path / "empty.mp4").touch()
    with pytest.raises(VideoReadError, match="empty"):
        probe(tmp_path / "empty.mp4")
    (tmp_path / "text.mp4").write_text("hello")
    with pytest.raises(VideoReadError, match="text.mp4"):
        probe(tmp_path / "text.mp4")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_skipped(tmp_path):
    write_dataset(tmp_path, num_files=2, num_frames=24, size=32)
    locked = write_video(tmp_path / "locked.mp4", _squares(24))
    locked.chmod(0)
    try:
        assert "locked.mp4" in scan_folder(tmp_path).skipped
    finally:
        locked.chmod(0o644)


def test_a_folder_without_readable_video_names_the_folder_and_the_extensions(tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(FileNotFoundError) as error:
        _datamodule(tmp_path).setup("fit")
    message = str(error.value)
    assert str(tmp_path) in message and ".mp4" in message and ".mkv" in message and "1 unreadable" in message


def test_files_shorter_than_a_clip_are_counted(tmp_path):
    write_dataset(tmp_path, num_files=2, num_frames=24, size=32)
    write_video(tmp_path / "short.mp4", _squares(5))
    with pytest.warns(UserWarning, match="1 shorter than one clip of 8 frames"):
        _datamodule(tmp_path).setup("fit")


def test_an_invalid_manifest_is_a_clear_error(tmp_path):
    write_dataset(tmp_path, num_files=2, num_frames=24, size=32)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json is not a valid genie_lit manifest"):
        scan_folder(tmp_path)


# --- index cache and splits ----------------------------------------------------------------------


def test_the_cached_index_is_reused_and_refreshed_only_for_changed_files(tmp_path, monkeypatch):
    root = _messy_folder(tmp_path)
    first = scan_folder(root)
    assert first.probed == 6 and (root / INDEX_FILE).exists()

    def no_probe(path):
        raise AssertionError(f"{path} was probed again")

    monkeypatch.setattr("genie_lit.data.index.probe", no_probe)
    again = scan_folder(root)
    assert again.probed == 0
    assert [v.relpath for v in again.videos] == [v.relpath for v in first.videos]
    assert again.skipped == first.skipped  # failures are cached too
    monkeypatch.undo()
    write_video(root / "ep001.mp4", _squares(30))  # one file changes
    changed = scan_folder(root)
    assert changed.probed == 1
    assert {v.relpath: v.info.num_frames for v in changed.videos}["ep001.mp4"] == 30


def _entries(names, splits=None):
    info = VideoInfo(num_frames=40, fps=15.0, width=32, height=32)
    splits = splits or [None] * len(names)
    return [VideoEntry(path=Path(n), relpath=n, info=info, split=s) for n, s in zip(names, splits)]


def test_split_never_puts_one_file_in_two_splits_and_is_deterministic():
    videos = _entries([f"game{g}/ep{i:04d}.mp4" for g in range(3) for i in range(17)])
    splits = split_files(videos, val_fraction=0.1, test_fraction=0.2, seed=3)
    names = {name: {v.relpath for v in split} for name, split in splits.items()}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not names[a] & names[b]
    assert sum(len(n) for n in names.values()) == len(videos)
    assert (len(names["val"]), len(names["test"])) == (5, 10)
    again = split_files(list(reversed(videos)), val_fraction=0.1, test_fraction=0.2, seed=3)
    assert {k: {v.relpath for v in s} for k, s in again.items()} == names
    assert {v.relpath for v in split_files(videos, 0.1, 0.2, seed=4)["val"]} != names["val"]


def test_manifest_splits_win(tmp_path):
    write_dataset(tmp_path, num_files=3, num_frames=24, size=32)
    splits = ["test", "train", "val"]
    episodes = [{"file": f"ep{i:03d}.mp4", "split": s, "game": "squares"} for i, s in enumerate(splits)]
    (tmp_path / "manifest.json").write_text(json.dumps({"episodes": episodes}))
    dm = _datamodule(tmp_path, val_fraction=0.5)
    dm.setup()
    assert [[Path(v.relpath).name for v in dm.datasets[s].videos] for s in ("train", "val", "test")] == [
        ["ep001.mp4"], ["ep002.mp4"], ["ep000.mp4"]]
    assert dm.games == ["squares"]


# --- items and loaders -----------------------------------------------------------------------------


def test_items_carry_the_true_actions_of_their_transitions(tmp_path):
    write_dataset(tmp_path, num_files=1, num_frames=40, size=32)
    table = np.load(tmp_path / "ep000.actions.npy")
    dataset = ClipDataset(scan_folder(tmp_path).videos, clip_length=8, resolution=(32, 32), fps=None, stride=5)
    for i, (_, start) in enumerate(dataset.clips):
        item = dataset[i]
        assert item["video"].shape == (8, 3, 32, 32) and item["video"].dtype == torch.float32
        assert 0.0 <= item["video"].min() and item["video"].max() <= 1.0
        assert item["actions"].tolist() == table[start:start + 7].tolist()
        assert item["game"].dtype == torch.int64 and item["game"].item() == -1
    (tmp_path / "ep000.actions.npy").unlink()
    no_sidecar = ClipDataset(scan_folder(tmp_path).videos, clip_length=8, resolution=(32, 32))
    assert (no_sidecar[0]["actions"] == -1).all()


def test_two_workers_deliver_every_training_clip(tmp_path):
    write_dataset(tmp_path, num_files=4, num_frames=24, size=32)
    dm = _datamodule(tmp_path, num_workers=2, batch_size=3, clip_length=8, val_fraction=0.25)
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    assert len(batches) == len(dm.datasets["train"]) // 3
    for batch in batches:
        assert batch["video"].shape == (3, 8, 3, 32, 32)
        assert batch["actions"].shape == (3, 7) and (batch["actions"] >= 0).all()
    val = list(dm.val_dataloader())
    assert sum(len(b["video"]) for b in val) == len(dm.datasets["val"]) == 3
