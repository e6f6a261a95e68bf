"""Tiny real video files for tests: moving coloured squares written with PyAV, and the messy
files real collections hold (grey, alpha, palette GIF, variable frame rate, truncated, not video)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from genie_lit.media.frames import _FONT


def moving_square_frames(num_frames: int, height: int = 32, width: int = 32, seed: int = 0,
                         actions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``t h w 3`` uint8 of a square that moves by the action of each transition
    (0 stay, 1 up, 2 down, 3 left, 4 right) over a fixed textured background; returns (frames, actions)."""
    rng = np.random.default_rng(seed)
    if actions is None:
        actions = rng.integers(0, 5, size=num_frames - 1)
    background = (rng.random((height, width, 3)) * 60).astype(np.uint8)
    size = max(3, height // 8)
    y, x = height // 2, width // 2
    moves = {0: (0, 0), 1: (-2, 0), 2: (2, 0), 3: (0, -2), 4: (0, 2)}
    frames = []
    for t in range(num_frames):
        frame = background.copy()
        frame[y:y + size, x:x + size] = (230, 200, 40)
        frames.append(frame)
        if t < num_frames - 1:
            dy, dx = moves[int(actions[t])]
            y = int(np.clip(y + dy, 0, height - size))
            x = int(np.clip(x + dx, 0, width - size))
    return np.stack(frames), np.asarray(actions, dtype=np.int64)


def write_video(path: str | Path, frames: np.ndarray, fps: int = 15, codec: str = "libx264rgb",
                pix_fmt: str = "rgb24", options: dict | None = None, pts: list[int] | None = None,
                time_base: Fraction | None = None) -> Path:
    """Write uint8 frames, ``t h w 3`` (RGB), ``t h w 4`` (RGBA) or ``t h w`` (grey); lossless H.264 RGB
    by default. ``pts`` (in ``time_base`` units) gives each frame its own time: variable frame rate."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    in_format = "gray" if frames.ndim == 3 else {3: "rgb24", 4: "rgba"}[frames.shape[-1]]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        if time_base is not None:
            stream.time_base = stream.codec_context.time_base = time_base
        stream.options = options if options is not None else ({"qp": "0", "g": "8"} if "264" in codec else {})
        for i, frame in enumerate(frames):
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=in_format)
            if pts is not None:
                image.pts, image.time_base = pts[i], time_base
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def index_frames(num_frames: int, height: int = 32, width: int = 32) -> np.ndarray:
    """``t h w 3`` uint8 frames of one flat grey level each, ``16 + 4 t`` (inside video range for t <= 54):
    a frame's value names it, whatever the codec or resize does to its size."""
    assert num_frames <= 55, "levels beyond 235 clip in limited-range video"
    levels = (16 + 4 * np.arange(num_frames)).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)).copy()


def truncate_file(path: str | Path, fraction: float = 0.5) -> Path:
    """Cut ``path`` to ``fraction`` of its bytes, like an interrupted copy or download."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def write_dataset(root: str | Path, num_files: int = 3, num_frames: int = 24, size: int = 32, fps: int = 15,
                  with_actions: bool = True) -> list[Path]:
    root = Path(root)
    paths = []
    for i in range(num_files):
        frames, actions = moving_square_frames(num_frames, size, size, seed=i)
        path = write_video(root / f"ep{i:03d}.mp4", frames, fps=fps)
        if with_actions:
            np.save(root / f"ep{i:03d}.actions.npy", actions)
        paths.append(path)
    return paths


def decode_all(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def label_mask(image: np.ndarray, text: str, cell: int) -> np.ndarray:
    """Where ``image`` is bright inside the label box (the box darkens the frame to <= 63): the glyph."""
    height, width = 5 * cell + 2 * cell, (4 * len(text) - 1) * cell + 2 * cell
    return (image[:height, :width] > 200).all(-1)


def expected_mask(text: str, cell: int) -> np.ndarray:
    glyphs = np.concatenate([np.pad(_FONT[c], ((0, 0), (0, 1))) for c in text], axis=1)[:, :-1]
    return np.pad(glyphs, 1).repeat(cell, 0).repeat(cell, 1)
