"""Showing played frames: nearest-neighbour upscaling, the action drawn on each frame with a tiny
built-in bitmap font, PNG encoding and a widely playable mp4 writer (all numpy + PyAV).

Why an overlay: a latent action has no name, only an index, so a rollout is readable only if each
frame says which index produced it. Frames are labelled ``P`` (the world's rendition of the
prompt) or with the action's digits, in the top-left corner on a dark box.
"""

from __future__ import annotations

import os
from fractions import Fraction
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


class PlayableVideoWriter:
    """Ordinary H.264 mp4 (``yuv420p``, CRF 17): the file browsers, phones and desktop players open.

    :class:`~genie_lit.data.video_io.VideoWriter` (used with ``lossless=True``) keeps data-set frames
    bit-exact in RGB H.264, which most players cannot show. Colour is subsampled here with the
    AREA filter, so with an even upscale each world pixel covers whole 2x2 chroma blocks and keeps
    its colour (FFmpeg's default bicubic filter bleeds colour across pixel edges: measured 2.4x the
    error). Odd sizes are padded by one edge pixel (4:2:0 needs even sizes). Like ``VideoWriter`` it
    writes to a hidden ``.partial`` file that replaces ``path`` only when closed without an error.
    """

    def __init__(self, path: str | Path, fps: float, keyframe_interval: int = 20, crf: int = 17) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rate = Fraction(fps).limit_denominator(1001)
        self.options = {"crf": str(crf), "preset": "veryfast", "g": str(keyframe_interval), "threads": "1"}
        self.frames = 0
        self._container = av.open(str(self.partial), mode="w", format="mp4")
        self._stream = None

    def write(self, frame: np.ndarray) -> None:
        """Append one ``h w 3`` uint8 RGB frame."""
        height, width = frame.shape[:2]
        if height % 2 or width % 2:
            frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        if self._stream is None:
            self._stream = self._container.add_stream("libx264", rate=self.rate)
            self._stream.width, self._stream.height, self._stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
            self._stream.time_base = 1 / self.rate
            self._stream.options = self.options
        image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        image = image.reformat(format="yuv420p", interpolation="AREA", threads=1)
        image.pts = self.frames
        for packet in self._stream.encode(image):
            self._container.mux(packet)
        self.frames += 1

    def close(self, keep: bool = True) -> None:
        """Finish the file; ``keep=False`` (or no frame written) discards it."""
        if self._container is None:
            return
        try:
            if self._stream is not None and keep:
                for packet in self._stream.encode():
                    self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None
        if keep and self.frames:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)

    def __enter__(self) -> PlayableVideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(keep=exc_type is None)


def open_writer(path: str | Path, fps: float, lossless: bool = False) -> PlayableVideoWriter | VideoWriter:
    """An mp4 writer: playable H.264 by default, lossless RGB H.264 with ``lossless=True``."""
    cls = VideoWriter if lossless else PlayableVideoWriter
    return cls(path, fps=fps, keyframe_interval=max(1, round(fps)) * 2)
