"""Agents from latent actions: the scripted expert in the real game, the behaviour-cloning policy
and its data, the latent -> real action map, and `genie-lit agent evaluate` end to end on tiny data."""

import json

import numpy as np
import pytest
import torch

from conftest import CONFIGS, fit_checkpoint
from genie_lit.agents.action_map import ActionMap, fit_game_map
from genie_lit.agents.policy import BehaviourCloning
from genie_lit.data.record import record_atari

pytest.importorskip("ale_py")

TINY_LAM = """
model:
  init_args:
    encoder: {init_args: {dim: 32, depth: 1, num_heads: 2}}
    decoder: {init_args: {dim: 32, depth: 1, num_heads: 2}}
    search: {head_hidden: 32}
data:
  init_args: {clip_length: 4, batch_size: 2, num_workers: 0, max_val_clips: 2}
"""
TINY_POLICY = """
trainer:
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {save_last: true}
model:
  init_args: {width: 8, hidden: 32}
data:
  init_args: {batch_size: 8}
"""


@pytest.fixture(scope="module")
def experts(tmp_path_factory):
    out = tmp_path_factory.mktemp("experts")
    record_atari(out, ["pong"], episodes=3, steps=40, policy="expert", val_episodes=1)
    return out


def test_the_expert_scores_far_above_random_in_the_real_games(tmp_path):
    for game in ("pong", "breakout"):
        returns = {}
        for policy in ("expert", "random"):
            manifest = record_atari(tmp_path / f"{game}_{policy}", [game], episodes=1, steps=400, policy=policy,
                                    val_episodes=0, resolution=(16, 16))
            episode = manifest["episodes"][0]
            returns[policy] = episode["return"]
            actions = np.load(tmp_path / f"{game}_{policy}" / episode["actions"])
            assert len(actions) == episode["frames"] - 1  # true actions kept in the sidecar
        assert manifest["policy"]["name"] == "held_random"
        assert returns["expert"] >= returns["random"] + 3, (game, returns)


def test_the_expert_beats_every_constant_action(tmp_path):
    """A paddle that really follows the ball: in Breakout, holding LEFT alone returns the ball
    for 11 points; an expert that reads the ball's or paddle's position wrongly scores no more."""
    from genie_lit.agents.evaluate import baseline_chooser, play
    from genie_lit.data.atari import AtariGame

    for game in ("pong", "breakout"):
        actions = range(len(AtariGame(game, 0).action_names))
        constant = max(play(game, lambda g, seen, a=a: a, 0, 1000, 16).episode_return for a in actions)
        expert = play(game, baseline_chooser("expert", 0), 0, 1000, 16).episode_return
        assert expert >= constant + 10, (game, expert, constant)


def test_the_expert_refuses_games_it_cannot_play(tmp_path):
    with pytest.raises(ValueError, match="pong, breakout|breakout, pong"):
        record_atari(tmp_path, ["boxing"], episodes=1, steps=5, policy="expert")


def test_the_action_map_recovers_a_relabelling_from_few_shots(tmp_path):
    rng = np.random.default_rng(0)
    true = rng.integers(0, 3, 5000)
    latent = np.array([2, 0, 5])[true]  # code 2 means action 0, code 0 action 1, code 5 action 2
    true_with_gaps = true.copy()
    true_with_gaps[::2] = -1  # unlabelled transitions are never drawn
    entry = fit_game_map(latent, true_with_gaps, shots=50)
    assert entry["mapping"] == {0: 1, 2: 0, 5: 2} and entry["shots"] == 50
    path = ActionMap({"pong": entry}).save(tmp_path / "map.json")
    loaded = ActionMap.load(path)
    assert [loaded("pong", c) for c in (2, 0, 5)] == [0, 1, 2]
    assert loaded("pong", 7) == entry["fallback"]


def test_the_policy_learns_an_action_that_the_frames_show():
    torch.manual_seed(0)
    policy = BehaviourCloning(num_actions=4, history=2, width=8, hidden=32)
    labels = torch.randint(0, 4, (32,))
    frames = torch.zeros(32, 6, 16, 16)
    for i, label in enumerate(labels):  # the label is where a bright block sits in the last frame
        frames[i, 3:, 4 * int(label):4 * int(label) + 4, :] = 1.0
    optimizer = torch.optim.Adam(policy.parameters(), lr=5e-3)
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(policy(frames), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert (policy.act(frames, greedy=True) == labels).float().mean() > 0.9
    assert policy(frames).shape == (32, 4)


def _constant_policy(action: int, num_actions: int) -> BehaviourCloning:
    policy = BehaviourCloning(num_actions=num_actions, width=4, hidden=8).eval()
    with torch.no_grad():
        last = policy.net[-1]
        last.weight.zero_()
        last.bias.fill_(-10.0)
        last.bias[action] = 10.0
    return policy


def test_expert_agreement_counts_the_policies_that_act_as_the_expert_on_its_own_trajectory():
    """A constant policy agrees with the expert on exactly the share of decisions where the expert
    takes that action: over every action the shares sum to 1 and the largest is the majority."""
    from genie_lit.agents.evaluate import expert_agreement

    pong_actions = 6
    policies = {f"always {a}": (_constant_policy(a, pong_actions), None) for a in range(pong_actions)}
    # a latent policy: its one code goes through the map to the expert's most frequent action (RIGHT, 2)
    policies["latent"] = (_constant_policy(5, 8), ActionMap({"pong": {"mapping": {5: 2}, "fallback": 0, "shots": 1}}))
    result = expert_agreement(policies, "pong", decisions=60)
    shares = [result[f"always {a}"] for a in range(pong_actions)]
    assert result["decisions"] == 59 and sum(shares) == pytest.approx(1.0)  # the first is the serve's FIRE
    assert max(shares) == pytest.approx(result["majority"]) and result["majority"] < 1.0  # the expert moves
    assert result["latent"] == result["always 2"]
    # the confusion counts: the expert's action by row, the policy's by column
    constant = np.array(result["confusion"]["always 3"])
    assert constant.shape == (pong_actions, pong_actions) and constant.sum() == 59 and constant[:, 3].sum() == 59
    assert constant[3, 3] / 59 == pytest.approx(result["always 3"])
    # one decision, the serve's FIRE: nothing to compare, said as such
    assert expert_agreement(policies, "pong", decisions=1) == {"decisions": 0, "majority": None, "confusion": {},
                                                               **{name: None for name in policies}}


def test_a_greedy_policy_plays_its_most_likely_action_and_epsilon_a_random_one():
    from types import SimpleNamespace

    from genie_lit.agents.evaluate import policy_chooser

    policy = _constant_policy(2, 6)
    with torch.no_grad():  # a soft policy: its mode is action 2, drawn with probability e / (e + 5) = 0.35
        policy.net[-1].bias.copy_(torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0, 0.0]))
    game, seen = SimpleNamespace(actions=list(range(6))), [np.zeros((64, 64, 3), np.uint8)]

    def decisions(greedy: bool, epsilon: float, seed: int = 0) -> np.ndarray:
        choose = policy_chooser(policy, "pong", None, seed, greedy, epsilon)
        return np.array([choose(game, seen) for _ in range(400)])

    assert (decisions(True, 0.0) == 2).all()
    sampled = decisions(False, 0.0)
    assert 0.25 < (sampled == 2).mean() < 0.45 and set(sampled) == set(range(6))
    noisy = decisions(True, 0.2)
    assert 0.1 < (noisy != 2).mean() < 0.25  # a random action in 20% of the decisions, another than 2 in 5 of 6
    assert (decisions(True, 0.2) == noisy).all() and (decisions(True, 0.2, seed=1) != noisy).any()  # seeded


def test_agent_evaluate_refuses_greedy_episodes_that_would_repeat_one(tmp_path, capsys):
    from genie_lit.cli import main

    ckpt = tmp_path / "policy.ckpt"
    ckpt.write_bytes(b"")  # refused before it is read
    assert main(["agent", "evaluate", "--policy", str(ckpt), "--game", "pong", "--greedy", "--episodes", "3"]) == 1
    assert "--epsilon 0.05" in capsys.readouterr().err
    assert main(["agent", "evaluate", "--policy", str(ckpt), "--game", "pong", "--epsilon", "1.5"]) == 1
    assert "value in [0, 1]" in capsys.readouterr().err


@pytest.fixture(scope="module")
def lam_ckpt(experts, tmp_path_factory):
    root = tmp_path_factory.mktemp("lam")
    tiny = root / "tiny.yaml"
    tiny.write_text(TINY_LAM)
    return fit_checkpoint(CONFIGS / "lam" / "pixel.yaml", tiny, experts, root, steps=2)


def test_latent_labels_never_read_the_sidecars(experts, lam_ckpt, tmp_path):
    from genie_lit.agents.expert_data import ExpertClipDataModule

    dm = ExpertClipDataModule(str(experts), labels="latent", lam_ckpt=str(lam_ckpt), history=2, batch_size=4)
    dm.setup("fit")
    labels = [label for _, _, label in dm.datasets["train"].items]
    assert set(labels) <= set(range(8)) and len(labels) == 2 * 40  # every transition of the 2 training episodes
    import shutil

    blind = tmp_path / "blind"
    shutil.copytree(experts, blind)
    for sidecar in blind.rglob("*.actions.npy"):
        sidecar.write_bytes(b"not an array")  # reading one would fail
    dm_blind = ExpertClipDataModule(str(blind), labels="latent", lam_ckpt=str(lam_ckpt), history=2)
    dm_blind.setup("fit")
    assert [label for _, _, label in dm_blind.datasets["train"].items] == labels
    item = dm.datasets["train"][0]
    # the first frame is repeated before the episode's start
    assert item["frames"].shape == (6, 64, 64) and torch.equal(item["frames"][:3], item["frames"][3:])


def test_fit_a_latent_policy_and_an_oracle_then_evaluate_them_in_the_real_game(experts, lam_ckpt, tmp_path):
    from genie_lit.cli import main

    tiny = tmp_path / "tiny_policy.yaml"
    tiny.write_text(TINY_POLICY)
    policy = fit_checkpoint(CONFIGS / "agent" / "bc_latent.yaml", tiny, experts, tmp_path / "latent",
                            "--data.lam_ckpt", str(lam_ckpt), steps=2)
    oracle_tiny = tmp_path / "tiny_oracle.yaml"
    oracle_tiny.write_text(TINY_POLICY)
    oracle = fit_checkpoint(CONFIGS / "agent" / "bc_latent.yaml", CONFIGS / "agent" / "bc_oracle.yaml", experts,
                            tmp_path / "oracle", "--config", str(oracle_tiny), steps=2)
    out = tmp_path / "report.json"
    code = main(["agent", "evaluate", "--policy", str(policy), "--oracle", str(oracle), "--game", "pong",
                 "--episodes", "2", "--max-steps", "15", "--shots", "30", "--out", str(out), "--quiet"])
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report["agents"]) == {"policy", "oracle", "random", "expert"}
    for entry in report["agents"].values():
        assert len(entry["returns"]) == 2 and np.isfinite(entry["mean"])
    assert (tmp_path / "report.mp4").stat().st_size > 0
    agreement = report["expert_agreement"]
    assert agreement["decisions"] == 14 and all(0 <= agreement[name] <= 1 for name in ("policy", "oracle", "majority"))
    stored = ActionMap.load(str(policy) + ".action_map.json")
    assert stored.games["pong"]["shots"] == 30 and all(0 <= a < 6 for a in stored.games["pong"]["mapping"].values())
    greedy = tmp_path / "greedy.json"
    assert main(["agent", "evaluate", "--policy", str(policy), "--oracle", str(oracle), "--game", "pong", "--greedy",
                 "--epsilon", "0.1", "--episodes", "2", "--max-steps", "15", "--shots", "30", "--no-baselines",
                 "--out", str(greedy), "--quiet"]) == 0
    report = json.loads(greedy.read_text())
    assert report["greedy"] and report["epsilon"] == 0.1 and set(report["agents"]) == {"policy", "oracle"}


def test_agent_evaluate_names_a_missing_checkpoint(tmp_path, capsys):
    from genie_lit.cli import main

    assert main(["agent", "evaluate", "--policy", str(tmp_path / "none.ckpt"), "--game", "pong"]) == 1
    assert "configs/agent/bc_latent.yaml" in capsys.readouterr().err


def test_the_agent_sees_the_game_exactly_as_the_recorder_stored_it(tmp_path):
    from genie_lit.agents.evaluate import FRAME_SKIP, observe
    from genie_lit.data.atari import AtariGame
    from genie_lit.data.record import _episode_seed
    from genie_lit.media.read import read_frames

    manifest = record_atari(tmp_path, ["breakout"], episodes=1, steps=12, policy="expert", val_episodes=0)
    episode = manifest["episodes"][0]
    stored = read_frames(tmp_path / episode["file"], list(range(episode["frames"])), (64, 64), fps=episode["fps"])
    actions = np.load(tmp_path / episode["actions"])
    game = AtariGame("breakout", _episode_seed(0, "breakout", 0, 0))  # the recorder's seed of episode 0
    game.reset()
    replayed = [observe(game.screen(), 64)]
    for action in actions:
        for _ in range(FRAME_SKIP):
            game.act(int(action))
        replayed.append(observe(game.screen(), 64))
    assert np.array_equal(np.stack(replayed), stored)


def test_a_world_checkpoint_serves_as_the_labeller(world_ckpt):
    """The README's recipe may use the quickstart's world instead of a LAM trained on its own."""
    from genie_lit.agents.lam_labels import infer_latent_actions, lam_clip_length, load_lam

    lam = load_lam(world_ckpt)
    assert not lam.training and not any(p.requires_grad for p in lam.parameters())
    frames = np.random.default_rng(0).integers(0, 255, (9, 64, 64, 3), dtype=np.uint8)
    codes = infer_latent_actions(lam, frames, lam_clip_length(lam))
    assert codes.shape == (8,) and ((codes >= 0) & (codes < lam.num_actions)).all()


def test_record_atari_policy_expert_from_the_command_line(tmp_path, capsys):
    from genie_lit.cli import main

    out = tmp_path / "experts"
    assert main(["record", "atari", "--policy", "expert", "--expert-epsilon", "0", "--games", "pong", "--episodes",
                 "1", "--steps", "5", "--val-episodes", "0", "--out", str(out), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["policy"] == {"name": "scripted_expert", "epsilon": 0.0, "actions": "movement",
                                  "fire_on_reset": True, "repeat_action_probability": 0.0}
    with pytest.raises(SystemExit) as exit_info:  # a game the expert cannot play is a usage error
        main(["record", "atari", "--policy", "expert", "--games", "boxing", "--out", str(tmp_path / "b")])
    assert exit_info.value.code == 2 and "expert policy plays" in capsys.readouterr().err
