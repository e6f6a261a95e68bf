"""A random agent collecting episodes inside a learned world through :class:`GenieEnv`.

The smallest possible "agent trained in a learned world": it shows the Gymnasium loop works
end to end (``reset`` -> ``step`` until ``truncated``) and measures how fast a world serves an
RL library. ``examples/reinforce_in_genie_env.py`` trains a policy with REINFORCE on top of this.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Episode:
    steps: int
    episode_return: float
    seconds: float
    actions: list[int]
    frames: list[np.ndarray]


def run_random_agent(env: Any, episodes: int = 1, seed: int | None = None, keep_frames: bool = False) -> list[Episode]:
    """Play ``episodes`` episodes of uniformly random actions; returns their lengths and returns."""
    env.action_space.seed(seed)
    done: list[Episode] = []
    for index in range(episodes):
        obs, _ = env.reset(seed=None if seed is None else seed + index)
        frames = [obs] if keep_frames else []
        actions: list[int] = []
        total, start = 0.0, time.perf_counter()
        truncated = terminated = False
        while not (terminated or truncated):
            action = int(env.action_space.sample())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            actions.append(action)
            if keep_frames:
                frames.append(obs)
        done.append(Episode(len(actions), total, time.perf_counter() - start, actions, frames))
    return done
