"""``genie-lit evaluate``: every section on a tiny world and recording, the measures on cases whose
answer is known (NMI, few-shot mapping, action consistency, covering clips), and bad input."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from genie_lit.cli import main as genie_main
from genie_lit.evaluation.cli import default_out
from genie_lit.evaluation.consistency import action_consistency, displacement
from genie_lit.evaluation.data import Episode, covering_clips, scene_partners
from genie_lit.evaluation.fidelity import rollout_horizon
from genie_lit.evaluation.latent_actions import few_shot, game_agreement, joint_table, permutation_nmi
from genie_lit.evaluation.runner import evaluate_world
from genie_lit.metrics.latent_actions import normalized_mutual_information

FAST = ["--threads", "1", "--maskgit-steps", "2", "--horizon-frames", "8", "--fvd-size", "64", "--fvd-frames", "9",
        "--shots", "10", "--few-shot-seeds", "2", "--prompts", "3"]
SECTIONS = ("tokenizer", "next_frame", "rollouts", "horizon", "latent_actions", "action_consistency")


def numbers(tree) -> list[float]:
    """Every number in a JSON tree, booleans and counts included."""
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in numbers(v)]
    if isinstance(tree, list):
        return [x for v in tree for x in numbers(v)]
    return [float(tree)] if isinstance(tree, (int, float)) and not isinstance(tree, bool) else []


@pytest.fixture
def recording(video_dir, tmp_path) -> Path:
    """The test videos with a recorder manifest: two games, one train and one test episode each."""
    root = tmp_path / "recording"
    shutil.copytree(video_dir, root, ignore=shutil.ignore_patterns(".*"))
    episodes = [{"file": f"ep{i:03d}.mp4", "game": game, "split": split, "actions": f"ep{i:03d}.actions.npy"}
                for i, (game, split) in enumerate([("left", "train"), ("right", "train"), ("left", "test"),
                                                   ("right", "test")])]
    names = ["NOOP", "UP", "DOWN", "LEFT", "RIGHT"]
    (root / "manifest.json").write_text(json.dumps(
        {"episodes": episodes, "games": {g: {"action_names": names} for g in ("left", "right")}}))
    return root


def test_evaluate_writes_every_section_with_finite_numbers_per_game_and_the_command(world_ckpt, recording, tmp_path):
    out = tmp_path / "eval"
    assert genie_main(["evaluate", "--ckpt", str(world_ckpt), "--data", str(recording), "--out", str(out), *FAST]) == 0
    results = json.loads((out / "eval.json").read_text())
    assert results["kind"] == "world" and results["split"] == "test"  # the manifest has test episodes
    assert all(section in results for section in SECTIONS)
    for section in SECTIONS:
        values = numbers(results[section])
        assert values and all(math.isfinite(v) for v in values), section
    rollouts = results["rollouts"]
    assert rollouts["t"] == 4 and rollouts["fvd_name"] == "fvd_random_i3d_64px" and not rollouts["fvd_comparable"]
    assert rollouts["delta_psnr"] == pytest.approx(rollouts["psnr_inferred"] - rollouts["psnr_random"])
    horizon = results["horizon"]  # 8-frame rollouts (FAST), past the 4-frame training clips
    curves = ("psnr_inferred", "psnr_random", "psnr_copy_first", "psnr_other_scene")
    assert {len(horizon[c]) for c in curves} == {horizon["frames"]} == {8}
    assert horizon["clips_with_partner"] == horizon["clips"] == 6  # 3 clips per 24-frame test episode, 2 games
    assert 1 <= horizon["recognisable_frames"] <= 8 and horizon["psnr_copy_first"][0] == 100.0

    actions = results["latent_actions"]
    assert sorted(actions["games"]) == ["left", "right"]
    for game in actions["games"].values():  # every transition of the 24-frame test episode, once
        assert game["transitions"] == game["labelled"] == 23 == sum(game["code_usage"]) == np.sum(game["joint"])
        assert game["few_shot"]["accuracy"] is not None and 0 <= game["nmi_chance"] <= 1
    assert actions["mean"]["transitions"] == 46

    consistency = results["action_consistency"]
    assert consistency["prompts"] == 6 and len(consistency["per_action"]) == 8
    assert -1 <= consistency["consistency"] <= 1 and -1 <= consistency["baseline_across_actions"] <= 1

    report = (out / "eval.md").read_text()
    for heading in ("## Tokenizer reconstruction", "## Next-frame prediction", "## Rollouts", "## Latent actions",
                    "## Action consistency", "## Settings"):
        assert heading in report
    assert "## Horizon: 8-frame rollouts" in report and "another scene of the game" in report
    assert "NMI chance" in report and "RIGHT" in report and "baseline: different actions" in report
    assert f"genie-lit evaluate --ckpt {world_ckpt}" in report


def test_evaluate_world_defaults_to_the_training_data_and_its_held_out_val_split(world_ckpt, video_dir, tmp_path):
    """No manifest: the file split of the checkpoint's datamodule (val_fraction 0.25 of 4 files)."""
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    shutil.copy(world_ckpt, ckpt)
    results = evaluate_world(ckpt, maskgit_steps=2, fvd=False, shots=10, few_shot_seeds=1, prompts_per_game=2)
    assert results["data"] == str(video_dir) and results["split"] == "val"
    assert results["held_out"]["episodes"] == 1 and "val_fraction=0.25" in results["split_source"]
    assert "fvd" not in results["rollouts"]
    assert default_out(str(ckpt)) == tmp_path / "run" / "eval"


def test_a_tokenizer_checkpoint_gets_the_tokenizer_section_only(tokenizer_ckpt, video_dir, tmp_path):
    out = tmp_path / "eval"
    assert genie_main(["evaluate", "--ckpt", str(tokenizer_ckpt), "--data", str(video_dir), "--out", str(out),
                       "--threads", "1"]) == 0
    results = json.loads((out / "eval.json").read_text())
    assert results["kind"] == "tokenizer" and not any(s in results for s in SECTIONS[1:])
    assert 0 < results["tokenizer"]["psnr"] < 100 and 0 < results["tokenizer"]["codebook_usage"] <= 1


@pytest.mark.parametrize("case", ["missing checkpoint", "no videos", "no test split", "clips too short"])
def test_bad_input_is_a_clear_error_with_exit_code_1(case, world_ckpt, video_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    args, expected = {
        "missing checkpoint": (["--ckpt", str(tmp_path / "nope.ckpt")], "nope.ckpt does not exist"),
        "no videos": (["--ckpt", str(world_ckpt), "--data", str(tmp_path / "empty")], "no readable video"),
        "no test split": (["--ckpt", str(world_ckpt), "--split", "test"], "test split"),
        "clips too short": (["--ckpt", str(world_ckpt), "--clip-length", "3"], "--clip-length 3 is too short"),
    }[case]
    assert genie_main(["evaluate", *args, "--out", str(tmp_path / "eval"), "--no-fvd"]) == 1
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "eval").exists()


# ------------------------------------------------------------------------- the measures
def test_nmi_of_identical_labels_is_1_and_of_independent_labels_about_0():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 5000)
    assert normalized_mutual_information(joint_table(labels, labels, 5, 5)) == pytest.approx(1.0)
    relabelled = (labels + 2) % 5  # a renaming of the codes carries the same information
    assert normalized_mutual_information(joint_table(relabelled, labels, 5, 5)) == pytest.approx(1.0)
    independent = rng.integers(0, 8, 5000)
    assert normalized_mutual_information(joint_table(independent, labels, 8, 5)) < 0.005
    assert permutation_nmi(labels, labels, 5, 5, permutations=3, seed=0) < 0.005  # the chance level


def test_few_shot_map_of_aligned_codes_is_perfect_and_chance_is_the_majority_share():
    rng = np.random.default_rng(1)
    true = rng.choice(4, size=2000, p=[0.55, 0.25, 0.15, 0.05])
    latent = np.array([6, 2, 0, 7])[true]  # each true action has its own latent code
    result = few_shot(latent, true, shots=200, seeds=3)
    assert result["accuracy"] == 1.0
    assert result["chance"] == pytest.approx(0.55, abs=0.03)
    assert few_shot(latent[:150], true[:150], shots=200, seeds=3)["accuracy"] is None  # too few labels


def test_scene_partners_are_the_same_game_elsewhere_another_episode_first():
    frames, actions = np.zeros((40, 4, 4, 3), np.uint8), np.full(39, -1)
    episodes = [Episode(name, name[0], frames, actions) for name in ("a0", "a1", "b0", "c0")]
    clips = [(0, 0), (0, 8), (0, 16), (1, 0), (2, 0), (2, 8), (2, 24), (3, 0)]
    partners = scene_partners(episodes, clips)
    assert partners[0] == partners[1] == partners[2] == 3 and partners[3] == 2  # another episode; the farthest
    assert partners[4] == 6 and partners[6] == 4 and partners[5] == 6  # one episode: the farthest clip
    assert 7 not in partners  # a game with a single clip has no other scene


def test_rollout_horizon_counts_the_frames_above_another_scene():
    frames = 6
    other = torch.full((3, frames), 20.0, dtype=torch.float64)
    copy = torch.full((3, frames), 25.0, dtype=torch.float64)
    faithful = torch.full((3, frames), 30.0, dtype=torch.float64)
    dissolving = torch.tensor([[30.0, 28, 24, 19, 18, 17]] * 3, dtype=torch.float64)
    curves = {"random": copy, "copy_first": copy}
    kept = rollout_horizon({**curves, "inferred": faithful}, other, [True] * 3)
    assert kept["recognisable_frames"] == frames and kept["recognisable_share_last"] == 1.0
    lost = rollout_horizon({**curves, "inferred": dissolving}, other, [True] * 3)
    assert lost["recognisable_frames"] == 3 and lost["recognisable_share_last"] == 0.0
    assert lost["psnr_inferred"] == [30.0, 28.0, 24.0, 19.0, 18.0, 17.0] and lost["psnr_other_scene"] == [20.0] * frames
    alone = rollout_horizon({**curves, "inferred": faithful}, None, [False] * 3)
    assert alone["recognisable_frames"] is None and alone["psnr_other_scene"] is None


def test_game_agreement_ignores_unlabelled_transitions():
    latent, true = np.array([0, 1, 0, 1, 2]), np.array([3, 4, 3, 4, -1])
    result = game_agreement(latent, true, num_latent=3, shots=2, seeds=1, permutations=2, seed=0)
    assert result["labelled"] == 4 and result["code_usage"] == [2, 2, 1] and result["nmi"] == pytest.approx(1.0)


@pytest.mark.parametrize("frames,length", [(24, 4), (23, 4), (10, 8), (8, 8), (5, 8), (2, 4)])
def test_covering_clips_score_every_transition_exactly_once(frames, length):
    scored = []
    for start, n, skip in covering_clips(frames, length):
        assert n == min(length, frames) and start + n <= frames
        scored += [start + k for k in range(skip, n - 1)]
    assert scored == list(range(frames - 1))


def square(x: int, y: int, size: int = 32, side: int = 4) -> torch.Tensor:
    frame = torch.zeros(3, size, size)
    frame[:, y:y + side, x:x + side] = 1.0
    return frame


def test_displacement_points_where_a_bright_sprite_moved():
    before, after = square(10, 10), square(13, 10)
    assert displacement((after - before).mean(0)).tolist() == pytest.approx([4.0, 0.0])  # right: +x
    assert displacement((square(10, 6) - before).mean(0))[1] < 0  # up: -y
    assert displacement(torch.zeros(8, 8)).tolist() == [0.0, 0.0]  # nothing moved


class SpriteWorld:
    """A stub world of one square per prompt: actions 0-3 move it right, left, up, down by 3 px
    from any prompt; action 4 moves it in a direction that depends on the prompt; 5 does nothing."""

    num_actions = 6

    def reset(self, prompt, seed=None):
        self.frames = prompt[:, -1]
        return self.frames

    def step(self, action):
        out = []
        for frame, a in zip(self.frames, action.tolist()):
            y, x = (frame[0] > 0.5).nonzero()[0].tolist()
            angle = 2.3 * (x + 7 * y)  # a different direction per prompt
            moves = {0: (3, 0), 1: (-3, 0), 2: (0, -3), 3: (0, 3),
                     4: (round(3 * math.cos(angle)), round(3 * math.sin(angle))), 5: (0, 0)}
            dx, dy = moves[a]
            out.append(square(x + dx, y + dy))
        return torch.stack(out)


def test_consistency_is_about_1_for_consistent_actions_and_about_0_for_inconsistent_ones():
    rng = np.random.default_rng(0)
    prompts = torch.stack([square(int(x), int(y)) for x, y in rng.integers(6, 22, size=(12, 2))])
    result = action_consistency(SpriteWorld(), {"sprites": prompts}, seed=0)
    per_action = {p["action"]: p for p in result["per_action"]}
    assert all(per_action[a]["consistency"] > 0.95 for a in range(4))
    assert abs(per_action[4]["consistency"]) < 0.3 and abs(per_action[5]["consistency"]) < 0.3
    assert per_action[0]["mean_displacement_px"][0] > 0 and per_action[2]["mean_displacement_px"][1] < 0
    assert result["consistency"] > result["baseline_across_actions"] + 0.5


def test_consistency_of_a_world_that_ignores_its_actions_is_0():
    class Static(SpriteWorld):
        def step(self, action):
            return self.frames.clone()

    prompts = torch.stack([square(8, 8), square(16, 12), square(20, 4)])
    result = action_consistency(Static(), {"game": prompts}, seed=0)
    assert result["consistency"] == 0 and result["baseline_across_actions"] == 0
    assert all(p["prompts_with_effect"] == 0 for p in result["per_action"])
