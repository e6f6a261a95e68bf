"""GenieEnv: a learned world as a Gymnasium environment, checked by Gymnasium's own checker."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

gym = pytest.importorskip("gymnasium", reason="GenieEnv needs the genie-lit[gym] extra")
from gymnasium.utils.env_checker import check_env  # noqa: E402
from videos import moving_square_frames, write_video  # noqa: E402

from genie_lit.cli import main as cli_main  # noqa: E402
from genie_lit.play import GenieEnv, load_world  # noqa: E402
from genie_lit.play.agent import run_random_agent  # noqa: E402


@pytest.fixture(scope="module")
def world(world_ckpt):
    return load_world(str(world_ckpt), maskgit_steps=2)


def test_genie_env_passes_gymnasiums_checker(world):
    # made through gym.make so the checker can also try the other render mode from the spec
    env = gym.make("genie_lit/Genie-v0", world=world, max_episode_steps=5, render_mode="rgb_array").unwrapped
    assert isinstance(env, GenieEnv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=False)
    complaints = [str(w.message) for w in caught if "gymnasium" in (w.filename or "") or "env_checker" in str(w)]
    assert not complaints, complaints
    assert env.action_space == gym.spaces.Discrete(8)
    assert env.observation_space.shape == (64, 64, 3) and env.observation_space.dtype == np.uint8


def test_reset_takes_a_prompt_for_one_episode(world, tmp_path):
    env = GenieEnv(world, prompt=np.zeros((64, 64, 3), np.uint8))
    dark, _ = env.reset(seed=0)
    bright, _ = env.reset(seed=0, options={"prompt": np.full((30, 50, 3), 255, np.uint8)})  # any size
    assert bright.shape == dark.shape == (64, 64, 3) and bright.dtype == np.uint8
    assert bright.mean() != dark.mean(), "the prompt must reach the world"
    again, _ = env.reset(seed=0)  # the option applied to one episode only
    assert np.array_equal(again, dark)
    frames, _ = moving_square_frames(6, 64, 64)
    video = write_video(tmp_path / "clip.mp4", frames)
    from_path, info = env.reset(seed=0, options={"prompt": str(video)})
    assert from_path.shape == (64, 64, 3) and info["frame_index"] == 1  # an env reads one prompt frame by default
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"promt": video})


def test_episode_truncates_at_max_episode_steps_and_never_terminates(world):
    env = GenieEnv(world, max_episode_steps=3)
    env.reset(seed=1)
    results = [env.step(a)[1:4] for a in (0, 1, 2)]
    assert [r[2] for r in results] == [False, False, True]  # truncated
    assert not any(r[1] for r in results)  # terminated
    assert all(r[0] == 0.0 for r in results)  # a learned world has no reward of its own


def test_same_seed_same_episode(world):
    def episode(seed):
        env = GenieEnv(world, max_episode_steps=4)
        obs, _ = env.reset(seed=seed)
        return [obs] + [env.step(a)[0] for a in (3, 1, 4, 1)]

    first, second, other = episode(7), episode(7), episode(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not all(np.array_equal(a, b) for a, b in zip(first[1:], other[1:]))


def test_reward_fn_sees_previous_observation_action_and_observation(world):
    seen = []

    def reward_fn(prev, action, obs):
        seen.append((prev, action, obs))
        return float(action) * 10

    env = GenieEnv(world, reward_fn=reward_fn)
    obs0, _ = env.reset(seed=0)
    obs1, reward, *_ = env.step(5)
    assert reward == 50.0 and seen[0][1] == 5
    assert np.array_equal(seen[0][0], obs0) and np.array_equal(seen[0][2], obs1)


def test_invalid_use_is_refused(world, world_ckpt):
    env = GenieEnv(world)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    for bad in (8, -1, 2.5, True):
        with pytest.raises(ValueError, match=r"0\.\.7"):
            env.step(bad)
    env.step(np.int64(3))  # numpy integers are actions too
    with pytest.raises(ValueError, match="exactly one"):
        GenieEnv()
    with pytest.raises(ValueError, match="exactly one"):
        GenieEnv(world, ckpt=str(world_ckpt))
    with pytest.raises(ValueError, match="render_mode"):
        GenieEnv(world, render_mode="human")


def test_env_loads_a_checkpoint_and_is_registered_for_gym_make(world_ckpt):
    env = GenieEnv(ckpt=str(world_ckpt), maskgit_steps=1, max_episode_steps=2)
    assert env.world.maskgit_steps == 1
    made = gym.make("genie_lit/Genie-v0", ckpt=str(world_ckpt), max_episode_steps=2)
    obs, _ = made.reset(seed=0)
    assert obs.shape == (64, 64, 3)
    made.close()


def test_random_agent_collects_episodes(world, tmp_path, capsys, world_ckpt):
    env = GenieEnv(world, max_episode_steps=4)
    episodes = run_random_agent(env, episodes=2, seed=0, keep_frames=True)
    assert [e.steps for e in episodes] == [4, 4] and len(episodes[0].frames) == 5
    assert all(0 <= a < 8 for e in episodes for a in e.actions)

    out = tmp_path / "agent.mp4"
    assert cli_main(["play", "--ckpt", str(world_ckpt), "--random-agent", "--episodes", "2",
                     "--max-episode-steps", "3", "--maskgit-steps", "1", "--out", str(out)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["steps"] for line in lines] == [3, 3] and out.exists()
    assert json.loads(out.with_suffix(".json").read_text())["frames"] == 4


def test_play_works_without_gymnasium_and_genie_env_says_how_to_install_it():
    import subprocess
    import sys

    code = ("import sys; sys.modules['gymnasium'] = None\n"
            "import genie_lit.play\n"
            "try:\n    genie_lit.play.GenieEnv\nexcept ModuleNotFoundError as err:\n    print(err)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "pip install 'genie-lit[gym]'" in out.stdout, out.stderr


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "reinforce_in_genie_env.py"


class OneGoodAction:
    """A Gymnasium-style env of 4 actions where only action 2 pays (reward 1 per step)."""

    action_space = SimpleNamespace(n=4)

    def __init__(self, steps: int = 4) -> None:
        self.steps, self.t = steps, 0
        self.obs = np.full((16, 16, 3), 128, dtype=np.uint8)

    def reset(self, seed=None):
        self.t = 0
        return self.obs, {}

    def step(self, action: int):
        self.t += 1
        return self.obs, float(action == 2), False, self.t >= self.steps, {}


def test_the_reinforce_example_learns_the_action_that_pays():
    spec = importlib.util.spec_from_file_location("reinforce_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    torch.manual_seed(0)
    env = OneGoodAction()
    before = torch.softmax(torch.nn.Linear(8 * 8 * 3, 4)(example.features(env.obs)), -1)  # an untrained policy
    policy = example.train(env, iterations=40, episodes=4, lr=0.05, log=lambda line: None)
    after = torch.softmax(policy(example.features(env.obs)), -1)
    assert before.max() < 0.5 and after[2] > 0.8, after


def test_the_reinforce_example_runs_inside_a_learned_world(world_ckpt):
    out = subprocess.run([sys.executable, str(EXAMPLE), "--ckpt", str(world_ckpt), "--iterations", "2",
                          "--episodes", "2", "--steps", "2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("random agent: mean return") and len(lines) == 3
    assert all(np.isfinite(float(line.rsplit(" ", 1)[1])) for line in lines)
