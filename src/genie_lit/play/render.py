"""Showing played frames: nearest-neighbour upscaling, the action drawn on each frame with a tiny
built-in bitmap font, PNG encoding and a widely playable mp4 writer (all numpy + PyAV).

Why an overlay: a latent action has no name, only an index, so a rollout is readable only if each
frame says which index produced it. Frames are labelled ``P`` (the world's rendition of the
prompt) or with the action's digits, in the top-left corner on a dark box.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch

from genie_lit.data.video_io import VideoWriter

# 3x5 glyphs, one string of rows per character ('#' = ink)
_GLYPHS = {
    "0": ("###", "#.#", "#.#", "#.#", "###"), "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"), "3": ("###", "..#", ".##", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"), "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"), "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"), "9": ("###", "#.#", "###", "..#", "###"),
    "P": ("###", "#.#", "###", "#..", "#.."), "-": ("...", "...", "###", "...", "..."),
    " ": ("...", "...", "...", "...", "..."),
}
_FONT = {ch: np.array([[c == "#" for c in row] for row in rows]) for ch, rows in _GLYPHS.items()}


def to_uint8(frame: torch.Tensor | np.ndarray) -> np.ndarray:
    """A world frame (``c h w`` float in [0, 1]) -> ``h w 3`` uint8; uint8 ``h w 3`` passes through."""
    if isinstance(frame, np.ndarray) and frame.dtype == np.uint8:
        return frame
    frame = torch.as_tensor(frame).detach().float().cpu()
    return (frame.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour ``scale``-times enlargement of ``h w 3`` (pixel art stays sharp)."""
    if scale == 1:
        return image
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def draw_label(image: np.ndarray, text: str, cell: int | None = None) -> np.ndarray:
    """A copy of ``image`` (``h w 3`` uint8) with ``text`` (digits, ``P``, ``-``) in the top-left
    corner, white on a dark box; ``cell`` is the size of one font pixel (default: 1/64 of the frame)."""
    unknown = set(text) - set(_FONT)
    if unknown:
        raise ValueError(f"the overlay font has no glyph for {sorted(unknown)}; use digits, 'P' or '-'")
    height, width = image.shape[:2]
    cell = cell or max(1, round(min(height, width) / 64))
    glyphs = np.concatenate([np.pad(_FONT[ch], ((0, 0), (0, 1))) for ch in text], axis=1)[:, :-1]
    mask = np.pad(glyphs, 1).repeat(cell, axis=0).repeat(cell, axis=1)  # one font pixel of margin
    box_h, box_w = min(mask.shape[0], height), min(mask.shape[1], width)
    out = image.copy()
    box = out[:box_h, :box_w]
    box[:] = (box.astype(np.uint16) // 4).astype(np.uint8)  # darken, keep a hint of the frame
    box[mask[:box_h, :box_w]] = (255, 255, 255)
    return out


def label_for(action: int | None) -> str:
    """Overlay text of a frame: ``P`` for the prompt's rendition, else the action index."""
    return "P" if action is None else str(int(action))


def show(frame: torch.Tensor | np.ndarray, action: int | None, scale: int, overlay: bool = True) -> np.ndarray:
    """A world frame upscaled, with its action drawn on it: what files and pages show."""
    image = upscale(to_uint8(frame), scale)
    return draw_label(image, label_for(action)) if overlay else image


def encode_png(image: np.ndarray) -> bytes:
    """``h w 3`` uint8 RGB -> PNG file bytes (FFmpeg's encoder through PyAV)."""
    image = np.ascontiguousarray(image)
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = image.shape[1], image.shape[0], "rgb24"
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    return b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])


class PlayableVideoWriter(VideoWriter):
    """:class:`~genie_lit.data.video_io.VideoWriter` writing ordinary H.264 (``yuv420p``, CRF 17):
    the mp4 that browsers, phones and desktop players open (lossless RGB H.264 is for data sets).

    Upscaled frames lose nothing visible to 4:2:0 colour: with an even ``scale`` each world pixel
    covers whole 2x2 chroma blocks. Odd frame sizes are padded by one edge pixel (H.264 needs even).
    """

    def _open_stream(self, height: int, width: int) -> None:
        stream = self._container.add_stream("libx264", rate=self.rate)
        stream.width, stream.height, stream.pix_fmt = width + width % 2, height + height % 2, "yuv420p"
        stream.time_base = 1 / self.rate
        stream.options = {"crf": "17", "preset": "veryfast", "g": str(self._keyframe_interval), "threads": "1"}
        self._stream = stream

    def write(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        if height % 2 or width % 2:
            frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        super().write(frame)


def open_writer(path: str | Path, fps: float, lossless: bool = False) -> VideoWriter:
    """An mp4 writer: playable H.264 by default, lossless RGB H.264 with ``lossless=True``."""
    cls = VideoWriter if lossless else PlayableVideoWriter
    return cls(path, fps=fps, keyframe_interval=max(1, round(fps)) * 2)
