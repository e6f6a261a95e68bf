"""``GenieEnv``: a Gymnasium environment inside a learned world (optional extra ``genie_lit[gym]``).

Actions are the world's latent actions (``Discrete(A)``), observations its frames as RGB uint8
``(H, W, 3)``. A world learned from unlabelled video has **no reward and no end**: ``step`` returns
``reward_fn(prev_obs, action, obs)`` when one is given and ``0.0`` otherwise, ``terminated`` is
always ``False``, and an episode is truncated after ``max_episode_steps`` steps.

Seeding follows Gymnasium: ``reset(seed=s)`` seeds the environment's generator, from which each
episode draws the seed of the world's MaskGIT sampler, so equal seeds replay equal episodes.

    env = GenieEnv(ckpt="runs/genie/checkpoints/last.ckpt", prompt="photo.jpg")
    obs, info = env.reset(seed=0, options={"prompt": "sketch.png"})  # this episode only
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

It is also registered as ``genie_lit/Genie-v0`` for ``gymnasium.make`` (after importing this module).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

try:
    import gymnasium as gym
    from gymnasium import spaces
except ModuleNotFoundError as err:  # pragma: no cover - exercised only without the extra
    raise ModuleNotFoundError(
        "GenieEnv needs Gymnasium, an optional extra: pip install 'genie-lit[gym]'") from err

from genie_lit.models.world import Genie
from genie_lit.play.prompt import as_prompt, default_prompt
from genie_lit.media.frames import to_image

RewardFn = Callable[[np.ndarray, int, np.ndarray], float]


class GenieEnv(gym.Env):
    """A learned Genie world as a Gymnasium environment.

    Args:
        world: a :class:`~genie_lit.models.Genie` world, or ``None`` to load ``ckpt``.
        ckpt: a co-training checkpoint (when ``world`` is not given).
        prompt: default prompt of every episode: frames (``h w 3`` / ``t h w 3`` uint8, tensors) or
            an image/video path; ``None`` uses a neutral built-in frame. ``reset(options={"prompt":
            ...})`` overrides it for one episode.
        prompt_frames: how many first frames of a video prompt to use.
        max_episode_steps: steps until ``truncated`` (the world never terminates).
        reward_fn: ``reward_fn(prev_obs, action, obs) -> float``; ``None`` gives reward 0.0.
        render_mode: ``None`` or ``"rgb_array"`` (``render()`` returns the last observation).
        **world_kwargs: settings for :func:`genie_lit.play.world.load_world` when loading ``ckpt``
            (``maskgit_steps``, ``temperature``, ``dtype``, ``device``, ...).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, world: Genie | None = None, ckpt: str | Path | None = None, prompt: Any = None,
                 prompt_frames: int = 1, max_episode_steps: int = 100, reward_fn: RewardFn | None = None,
                 render_mode: str | None = None, **world_kwargs: Any) -> None:
        if (world is None) == (ckpt is None):
            raise ValueError("GenieEnv needs exactly one of world=Genie(...) or ckpt='path/to/last.ckpt'")
        if world is None:
            from genie_lit.play.world import load_world

            world = load_world(str(ckpt), **world_kwargs)
        elif world_kwargs:
            raise ValueError(f"world settings {sorted(world_kwargs)} apply only when loading ckpt; "
                             "set them on the Genie world you pass")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be at least 1, got {max_episode_steps}")
        self.world, self.reward_fn, self.render_mode = world, reward_fn, render_mode
        self.max_episode_steps, self.prompt_frames = max_episode_steps, prompt_frames
        self.prompt = as_prompt(prompt, prompt_frames) if prompt is not None else default_prompt(world.image_size)
        height, width = world.image_size
        self.action_space = spaces.Discrete(world.num_actions)
        self.observation_space = spaces.Box(0, 255, shape=(height, width, 3), dtype=np.uint8)
        self._obs: np.ndarray | None = None
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"prompt"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; GenieEnv takes options={{'prompt': ...}}")
        prompt = as_prompt(options["prompt"], self.prompt_frames) if options.get("prompt") is not None \
            else self.prompt
        world_seed = int(self.np_random.integers(0, 2**31 - 1))
        self._obs = self._observe(self.world.reset(prompt, seed=world_seed))
        self._steps = 0
        return self._obs, {"frame_index": self.world.frame_index, "world_seed": world_seed}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        if isinstance(action, bool) or not isinstance(action, (int, np.integer)):
            raise ValueError(f"action {action!r} is not an integer: actions are indices "
                             f"0..{self.world.num_actions - 1}")
        action = int(action)
        self.world.check_actions(action)
        previous = self._obs
        self._obs = self._observe(self.world.step(action))
        self._steps += 1
        reward = float(self.reward_fn(previous, action, self._obs)) if self.reward_fn is not None else 0.0
        truncated = self._steps >= self.max_episode_steps
        return self._obs, reward, False, truncated, {"frame_index": self.world.frame_index, "action": action}

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return None if self._obs is None else self._obs.copy()
        return None

    @staticmethod
    def _observe(frame: Any) -> np.ndarray:
        return to_image(frame)


ENV_ID = "genie_lit/Genie-v0"
if ENV_ID not in gym.registry:  # gym.make("genie_lit/Genie-v0", ckpt=...) once genie_lit.play.env is imported
    gym.register(id=ENV_ID, entry_point="genie_lit.play.env:GenieEnv")
