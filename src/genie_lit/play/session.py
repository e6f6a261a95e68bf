"""One interactive play session: a world behind a lock, the frames played so far, and their export.

The browser server (:mod:`genie_lit.play.server`) holds one :class:`PlaySession`; every request that
touches the world takes the session's lock, so concurrent key presses are played one after the
other and never interleave inside a MaskGIT decode.
"""

from __future__ import annotations

import base64
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genie_lit.media.frames import show, to_image
from genie_lit.media.write import encode_png, open_writer
from genie_lit.models.world import Genie
from genie_lit.play.world import describe

# default key map beside the digits (digit k plays action k); keys are KeyboardEvent.key, lower-case
DEFAULT_KEYS = {" ": 0, "arrowleft": 1, "a": 1, "arrowright": 2, "d": 2, "arrowup": 3, "w": 3,
                "arrowdown": 4, "s": 4, "q": 5, "e": 6, "z": 7, "x": 8, "c": 9}
KEY_NAMES = {" ": "space", "arrowleft": "←", "arrowright": "→", "arrowup": "↑", "arrowdown": "↓"}


def parse_keys(text: str | None, actions_of: Any) -> dict[str, int]:
    """The key map: digits always play their own index; ``text`` (``"arrowleft=3,space=0"``)
    replaces the default arrow/WASD/letter map, every action passing the range check of
    ``actions_of`` (the world or its dynamics model). Default keys of actions the world lacks are
    dropped."""
    num_actions = actions_of.num_actions
    if not text:
        keys = dict(DEFAULT_KEYS)
    else:
        keys = {}
        for item in text.split(","):
            key, sep, value = item.strip().partition("=")
            key = {"space": " ", "left": "arrowleft", "right": "arrowright", "up": "arrowup",
                   "down": "arrowdown"}.get(key.lower(), key.lower())
            if not sep or not value.strip().isdigit() or not key or key.isdigit() or key == "r":
                raise ValueError(f"--keys: {item!r} is not KEY=ACTION (e.g. left=3,space=0); digits and 'r' "
                                 "(reset) are reserved")
            keys[key] = int(value)
            try:
                actions_of.check_actions(torch.tensor([keys[key]]))
            except ValueError as err:
                raise ValueError(f"--keys: {err}") from None
    return {key: action for key, action in keys.items() if action < num_actions}


class PlaySession:
    """A world being played: ``reset``/``step`` under a lock; frames kept for the mp4 download.

    Args:
        world: the world to play.
        prompt: prompt frames (anything :meth:`Genie.reset` accepts).
        seed: seed of the first episode (later resets draw a new one unless given).
        scale: upscaling of the exported mp4.
        fps: frame rate stored in the exported mp4.
        max_frames: frames kept for export (the oldest are dropped beyond it).
    """

    def __init__(self, world: Genie, prompt: Any, seed: int | None = None, scale: int = 4, fps: float = 10.0,
                 max_frames: int = 3000, keys: dict[str, int] | None = None) -> None:
        self.world, self.prompt, self.scale, self.fps, self.max_frames = world, prompt, scale, fps, max_frames
        self.keys = keys if keys is not None else parse_keys(None, world)
        self.lock = threading.Lock()
        self.frames: list[np.ndarray] = []
        self.actions: list[int | None] = []
        self.dropped = 0
        self.episode = 0
        self.reset(seed)

    def _record(self, frame: Any, action: int | None, seconds: float) -> dict[str, Any]:
        image = to_image(frame)
        self.frames.append(image)
        self.actions.append(action)
        if len(self.frames) > self.max_frames:
            del self.frames[0], self.actions[0]
            self.dropped += 1
        return {"frame": base64.b64encode(encode_png(image)).decode("ascii"), "action": action,
                "frame_index": self.dropped + len(self.frames) - 1, "episode": self.episode,
                "step_ms": round(seconds * 1000, 2), "frames_kept": len(self.frames)}

    def reset(self, seed: int | None = None) -> dict[str, Any]:
        """Start a new episode from the prompt (the session's frames start over too)."""
        with self.lock:
            start = time.perf_counter()
            frame = self.world.reset(self.prompt, seed=seed)
            self.frames, self.actions, self.dropped = [], [], 0
            self.episode += 1
            return self._record(frame, None, time.perf_counter() - start)

    def step(self, action: int) -> dict[str, Any]:
        """Play ``action`` (validated by the caller against ``num_actions``)."""
        with self.lock:
            start = time.perf_counter()
            frame = self.world.step(action)
            return self._record(frame, action, time.perf_counter() - start)

    def info(self) -> dict[str, Any]:
        with self.lock:
            return {**describe(self.world), "keys": self.keys, "key_names": KEY_NAMES, "scale": self.scale,
                    "frame_index": self.dropped + len(self.frames) - 1, "episode": self.episode}

    def latest_png(self) -> bytes:
        with self.lock:
            return encode_png(self.frames[-1])

    def history(self) -> dict[str, Any]:
        with self.lock:
            return {"episode": self.episode, "first_frame": self.dropped,
                    "frames": [{"frame": self.dropped + i, "action": a} for i, a in enumerate(self.actions)]}

    def session_mp4(self) -> bytes:
        """The episode so far as a playable mp4, upscaled, each frame labelled with its action."""
        with self.lock:
            frames, actions = list(self.frames), list(self.actions)
        with tempfile.TemporaryDirectory(prefix="genie_lit_play_") as folder:
            path = Path(folder) / "session.mp4"
            with open_writer(path, fps=self.fps) as writer:
                for frame, action in zip(frames, actions):
                    writer.write(show(frame, action, self.scale))
            return path.read_bytes()
