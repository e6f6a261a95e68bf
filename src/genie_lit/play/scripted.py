"""Scripted play: prompt a world, step it through a list of latent actions, write what it dreamt.

Output of ``genie-lit play --prompt P --actions 0,3,3,1 --out run.mp4``:

- ``run.mp4``: frame 0 is the world's rendition of the (last) prompt frame, frame ``i`` the frame
  entered by action ``i``; upscaled (nearest) and labelled with ``P`` or the action index.
- ``run.json``: the settings, and ``actions``: entry ``i`` is the action that produced frame ``i``
  (``null`` for frame 0, the prompt).
- with ``--png DIR``: the same frames as ``DIR/frame_0000.png``, ...
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genie_lit.media.frames import show, to_image
from genie_lit.media.write import encode_png, open_writer
from genie_lit.models.world import Genie


class ActionError(ValueError):
    """An action list that does not parse or names an action outside the world's range."""


def parse_actions(text: str, actions_of: Any, seed: int | None = None) -> list[int]:
    """``"0,3,3,1"`` -> ``[0, 3, 3, 1]``; an item ``"2*5"`` repeats action 2 five times, an item
    ``"random:N"`` draws N actions uniformly (seeded by ``seed``). ``actions_of`` is the world or its
    dynamics model (``num_actions`` and ``check_actions``): every action must pass its range check,
    otherwise :class:`ActionError` with that check's message."""
    num_actions = actions_of.num_actions
    rng = np.random.default_rng(seed)
    actions: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        if item.startswith("random:"):
            count = item.split(":", 1)[1]
            if not count.isdigit() or int(count) < 1:
                raise ActionError(f"--actions {text!r}: write random:N with N a positive number of steps")
            actions.extend(rng.integers(0, num_actions, size=int(count)).tolist())
            continue
        action, _, repeat = item.partition("*")
        try:
            value, times = int(action), int(repeat) if repeat else 1
        except ValueError:
            raise ActionError(f"--actions {text!r}: {item!r} is not an action index; write e.g. 0,3,3,1 or 2*5 "
                              f"or random:16 with actions 0..{num_actions - 1}") from None
        try:
            actions_of.check_actions(torch.tensor([value]))
        except ValueError as err:
            raise ActionError(f"{err} (this world has {num_actions} actions)") from None
        if times < 1:
            raise ActionError(f"--actions {text!r}: the repeat count in {item!r} must be at least 1")
        actions.extend([value] * times)
    return actions


@dataclass
class Rollout:
    """Frames (``h w 3`` uint8 at the world's resolution) and the action into each (``None``: prompt)."""

    frames: list[np.ndarray] = field(default_factory=list)
    actions: list[int | None] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        """Generation speed measured over the steps (the reset is not counted)."""
        total = sum(self.step_seconds)
        return len(self.step_seconds) / total if total > 0 else float("nan")


def run_rollout(world: Genie, prompt: Any, actions: list[int], seed: int | None = None) -> Rollout:
    """Reset ``world`` with ``prompt`` and take ``actions``; frame 0 is the prompt's rendition."""
    rollout = Rollout()
    rollout.frames.append(to_image(world.reset(prompt, seed=seed)))
    rollout.actions.append(None)
    for action in actions:
        start = time.perf_counter()
        frame = world.step(action)
        rollout.step_seconds.append(time.perf_counter() - start)
        rollout.frames.append(to_image(frame))
        rollout.actions.append(action)
    return rollout


def write_rollout(rollout: Rollout, out: str | Path, png_dir: str | Path | None = None, scale: int = 4,
                  overlay: bool = True, fps: float = 10.0, lossless: bool = False,
                  meta: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write the mp4, the JSON action list and (optionally) PNGs; returns the paths written."""
    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise ValueError(f"--out {out} must end in .mp4")
    shown = [show(frame, action, scale, overlay) for frame, action in zip(rollout.frames, rollout.actions)]
    with open_writer(out, fps=fps, lossless=lossless) as writer:
        for image in shown:
            writer.write(image)
    written = {"video": out}
    if png_dir is not None:
        png_dir = Path(png_dir)
        png_dir.mkdir(parents=True, exist_ok=True)
        for index, image in enumerate(shown):
            (png_dir / f"frame_{index:04d}.png").write_bytes(encode_png(image))
        written["png_dir"] = png_dir
    record = {**(meta or {}), "fps": fps, "scale": scale, "overlay": overlay,
              "generation_frames_per_second": round(rollout.frames_per_second, 2),
              "frames": len(rollout.frames), "actions": list(rollout.actions)}
    json_path = out.with_suffix(".json")
    json_path.write_text(json.dumps(record, indent=1) + "\n")
    written["actions"] = json_path
    return written
