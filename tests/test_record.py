"""`genie-lit record atari`: real Atari gameplay recorded with ale-py, read back by the data pipeline."""

import json
import sys

import numpy as np
import pytest

from genie_lit.cli import main as cli_main
from genie_lit.data import VideoDataModule
from genie_lit.media import probe, read_frames
from genie_lit.data.atari import HeldRandomPolicy, movement_actions
from genie_lit.data.record import DatasetExistsError, _episode_splits, main, record_atari

ale_py = pytest.importorskip("ale_py")

SHORT = dict(episodes=1, steps=20)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_one_episode_reads_back_with_its_actions_and_manifest(tmp_path):
    out = tmp_path / "atari"
    assert main(["atari", "--games", "pong", "--episodes", "1", "--steps", "20", "--out", str(out), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    (episode,) = manifest["episodes"]
    assert episode["file"] == "pong/ep0000.mp4" and episode["actions"] == "pong/ep0000.actions.npy"
    assert (episode["game"], episode["seed"], episode["frames"], episode["fps"]) == ("pong", 0, 21, 15.0)
    assert episode["resolution"] == [64, 64] and episode["split"] == "train"  # one episode: nothing held out
    assert manifest["frame_skip"] == 4 and manifest["fps"] == 15.0 and manifest["codec"]["lossless"]
    names = manifest["games"]["pong"]["action_names"]
    assert names[:4] == ["NOOP", "FIRE", "RIGHT", "LEFT"]

    info = probe(out / episode["file"])
    assert (info.num_frames, info.fps, info.height, info.width) == (21, 15.0, 64, 64)
    frames = read_frames(out / episode["file"], list(range(21)), None, info.fps)
    assert frames.shape == (21, 64, 64, 3) and frames.dtype == np.uint8
    assert len({f.tobytes() for f in frames}) > 5  # the game moves
    actions = np.load(out / episode["actions"])
    assert actions.dtype == np.int64 and actions.shape == (20,)
    assert names[actions[0]] == "FIRE"  # pressed once at the start
    assert set(actions[1:].tolist()) <= set(manifest["games"]["pong"]["policy_actions"]) == {0, 2, 3}


def test_the_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        record_atari(tmp_path / name, ["breakout"], seed=seed, **SHORT)
    first = _files(tmp_path / "a")
    assert first == _files(tmp_path / "b")
    assert first["breakout/ep0000.mp4"] != _files(tmp_path / "c")["breakout/ep0000.mp4"]


def test_an_episode_does_not_depend_on_the_others(tmp_path):
    record_atari(tmp_path / "one", ["pong"], episodes=1, steps=12)
    record_atari(tmp_path / "three", ["pong"], episodes=3, steps=12)
    assert _files(tmp_path / "one")["pong/ep0000.mp4"] == _files(tmp_path / "three")["pong/ep0000.mp4"]


def test_unknown_game_lists_the_available_games(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown Atari game 'pongg'.*breakout.*pong"):
        record_atari(tmp_path, ["pongg"], **SHORT)
    with pytest.raises(SystemExit) as exit_info:
        main(["atari", "--games", "pongg", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown Atari game 'pongg'" in err and "space_invaders" in err
    assert not (tmp_path / "x").exists()


def test_game_names_in_other_spellings_resolve(tmp_path):
    manifest = record_atari(tmp_path, ["ALE/SpaceInvaders-v5", "Ms-Pacman"], episodes=1, steps=2)
    assert [e["game"] for e in manifest["episodes"]] == ["space_invaders", "ms_pacman"]


def test_games_with_a_taller_screen_record_at_the_asked_resolution(tmp_path):
    """Pooyan's screen is 220 rows, Carnival's 214 (not the usual 210): both record."""
    manifest = record_atari(tmp_path, ["pooyan", "carnival"], episodes=1, steps=3, resolution=(32, 32))
    for episode in manifest["episodes"]:
        info = probe(tmp_path / episode["file"])
        assert (info.height, info.width, info.num_frames) == (32, 32, 4), episode["game"]


def test_an_existing_dataset_is_not_overwritten_unless_asked(tmp_path, capsys):
    out = tmp_path / "data"
    record_atari(out, ["pong"], **SHORT)
    before = _files(out)
    with pytest.raises(DatasetExistsError, match="already holds a recording.*--append.*--overwrite"):
        record_atari(out, ["pong"], **SHORT)
    assert main(["atari", "--games", "pong", "--steps", "5", "--out", str(out), "--quiet"]) == 1
    assert "already holds a recording" in capsys.readouterr().err
    assert _files(out) == before

    (out / "notes.txt").write_text("mine")
    record_atari(out, ["breakout"], episodes=1, steps=5, mode="overwrite")
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["file"] for e in manifest["episodes"]] == ["breakout/ep0000.mp4"]
    assert not (out / "pong" / "ep0000.mp4").exists() and (out / "notes.txt").read_text() == "mine"


def test_episode_files_without_a_manifest_are_not_overwritten(tmp_path):
    (tmp_path / "pong").mkdir()
    (tmp_path / "pong" / "ep0000.mp4").write_bytes(b"someone's video")
    with pytest.raises(DatasetExistsError, match="without a manifest"):
        record_atari(tmp_path, ["pong"], **SHORT)


def test_append_adds_numbered_episodes_with_the_same_settings_only(tmp_path):
    record_atari(tmp_path, ["pong"], episodes=1, steps=8)
    first = _files(tmp_path)["pong/ep0000.mp4"]
    record_atari(tmp_path, ["pong", "breakout"], episodes=1, steps=8, mode="append")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [e["file"] for e in manifest["episodes"]] == ["pong/ep0000.mp4", "pong/ep0001.mp4", "breakout/ep0000.mp4"]
    assert _files(tmp_path)["pong/ep0000.mp4"] == first
    assert set(manifest["games"]) == {"pong", "breakout"}
    with pytest.raises(ValueError, match="other settings.*frame_skip"):
        record_atari(tmp_path, ["pong"], episodes=1, steps=8, frame_skip=2, mode="append")


def test_missing_ale_py_names_the_optional_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ale_py", None)  # import ale_py now raises ImportError
    assert main(["atari", "--games", "pong", "--out", str(tmp_path), "--quiet"]) == 1
    assert "pip install 'genie-lit[atari]'" in capsys.readouterr().err


def test_help_is_useful_and_the_cli_dispatches_record(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["record", "atari", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--games", "--episodes", "--steps", "--frame-skip", "--resolution", "--fps", "--seed",
                   "--hold", "--actions", "--val-episodes", "--overwrite", "--append", "--quiet"):
        assert option in text
    assert cli_main(["record", "atari", "--games", "pong", "--episodes", "1", "--steps", "3",
                     "--resolution", "32", "48", "--out", str(tmp_path), "--quiet"]) == 0
    assert probe(tmp_path / "pong" / "ep0000.mp4").height == 32 and probe(tmp_path / "pong" / "ep0000.mp4").width == 48


def test_quiet_recording_prints_nothing_not_even_the_emulator_banner(tmp_path, capfd):
    assert main(["atari", "--games", "pong,breakout", "--episodes", "1", "--steps", "3", "--out", str(tmp_path),
                 "--quiet"]) == 0
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_progress_line_reports_frames_per_second(tmp_path, capsys):
    record_atari(tmp_path, ["pong"], episodes=1, steps=10, progress=True)
    err = capsys.readouterr().err
    assert "episodes 1/1" in err and "frames/s" in err


def test_game_over_ends_the_episode_and_fire_restarts_after_a_lost_life(tmp_path):
    manifest = record_atari(tmp_path, ["breakout"], episodes=1, steps=3000)
    (episode,) = manifest["episodes"]
    assert episode["end"] == "game_over" and episode["frames"] < 3001 and episode["lives_lost"] == 5
    actions = np.load(tmp_path / episode["actions"])
    assert len(actions) == episode["frames"] - 1
    assert (actions == 1).sum() == 5  # FIRE: at the start and after each of the first four lost lives


def test_higher_fps_takes_several_frames_per_decision(tmp_path):
    manifest = record_atari(tmp_path, ["pong"], episodes=1, steps=20, frame_skip=4, fps=30)
    assert manifest["fps"] == 30.0 and probe(tmp_path / "pong" / "ep0000.mp4").fps == 30.0
    actions = np.load(tmp_path / "pong" / "ep0000.actions.npy")
    assert (actions[0::2] == actions[1::2]).all()  # two transitions per held decision
    with pytest.raises(ValueError, match="must be one of 15, 30, 60"):
        record_atari(tmp_path / "bad", ["pong"], frame_skip=4, fps=20, **SHORT)


def test_a_screen_delay_takes_each_screen_that_many_frames_into_the_next_decision(tmp_path):
    # the same episode at 60 fps holds every emulator frame: the delayed recording's frame k must be
    # its frame 4k + 2, and its true actions the decisions'
    delayed = record_atari(tmp_path / "delayed", ["pong"], episodes=1, steps=20, screen_delay=2)
    fine = record_atari(tmp_path / "fine", ["pong"], episodes=1, steps=83, fps=60)
    assert delayed["screen_delay"] == 2 and "screen_delay" not in fine  # absent when 0: older recordings append
    late = read_frames(tmp_path / "delayed/pong/ep0000.mp4", list(range(21)), None, 15.0)
    every = read_frames(tmp_path / "fine/pong/ep0000.mp4", list(range(84)), None, 60.0)
    assert sum(not np.array_equal(every[4 * k], every[4 * k + 2]) for k in range(21)) > 10  # a delay shows
    for k in range(21):
        assert np.array_equal(late[k], every[4 * k + 2]), k
    late_actions = np.load(tmp_path / "delayed/pong/ep0000.actions.npy")
    assert np.array_equal(late_actions, np.load(tmp_path / "fine/pong/ep0000.actions.npy")[0:80:4])
    with pytest.raises(ValueError, match="screen delay must be in"):
        record_atari(tmp_path / "bad", ["pong"], screen_delay=4, **SHORT)
    with pytest.raises(ValueError, match="one video frame per decision"):
        record_atari(tmp_path / "bad", ["pong"], screen_delay=1, fps=30, **SHORT)
    with pytest.raises(ValueError, match="other settings.*screen_delay"):
        record_atari(tmp_path / "delayed", ["pong"], mode="append", **SHORT)


def test_held_random_policy_holds_actions_for_the_configured_range():
    policy = HeldRandomPolicy([0, 2, 3], (2, 5), np.random.default_rng(0))
    actions = [policy() for _ in range(2000)]
    runs, current = [], 1
    for a, b in zip(actions, actions[1:]):
        if a == b:
            current += 1
        else:
            runs.append(current)
            current = 1
    assert set(actions) == {0, 2, 3}
    assert min(runs) >= 2 and np.mean(runs) > 3.0  # repeats of the same action can merge runs
    assert movement_actions(["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]) == [0, 2, 3]
    assert movement_actions(["NOOP", "FIRE"]) == [0, 1]  # a button-only game keeps its button


def test_splits_hold_out_episodes_per_game_and_keep_one_for_training():
    splits = _episode_splits(6, val=1, test=2, seed=0, game="pong", first=0)
    assert sorted(splits) == ["test", "test", "train", "train", "train", "val"]
    assert splits == _episode_splits(6, val=1, test=2, seed=0, game="pong", first=0)
    assert _episode_splits(1, val=1, test=1, seed=0, game="pong", first=0) == ["train"]


def test_a_recording_feeds_the_datamodule_with_its_splits_and_games(tmp_path):
    record_atari(tmp_path, ["pong", "breakout"], episodes=3, steps=24, val_episodes=1)
    dm = VideoDataModule(str(tmp_path), clip_length=8, resolution=64, fps=15, batch_size=4)
    dm.setup()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for split in ("train", "val"):
        files = {v.relpath for v in dm.datasets[split].videos}
        assert files == {e["file"] for e in manifest["episodes"] if e["split"] == split}
    assert dm.games == ["breakout", "pong"]
    batch = next(iter(dm.train_dataloader()))
    assert batch["video"].shape == (4, 8, 3, 64, 64) and (batch["actions"] >= 0).all()
    assert set(batch["game"].tolist()) <= {0, 1}
