"""Writing mp4 video and PNG images with PyAV.

Two mp4 writers, one frame at a time, both writing to a hidden ``.partial`` file that replaces
the target only when the writer closes without an error (an interrupted run never leaves a
truncated video behind), and both creating the target's folder:

- :class:`VideoWriter`: lossless RGB H.264 (``libx264rgb`` at ``qp 0``), for data sets. Atari
  frames at 64x64 are pixel art whose one-pixel sprites (a ball, a paddle edge) carry the action
  signal. Ordinary H.264 stores colour at half resolution (yuv420p) and quantises, which smears
  exactly those pixels; ``libx264rgb`` keeps full-resolution RGB and ``qp 0`` makes it lossless,
  so a frame reads back bit-exactly, while inter-frame prediction still makes mostly static game
  screens small (a few hundred bytes a frame). A short keyframe interval (default 16 frames,
  about one clip) bounds what a clip read must decode after a seek. FFV1 or PNG-in-MOV are also
  lossless but larger and not mp4; mp4 keeps the data set in the common container.
- :class:`PlayableVideoWriter`: ordinary H.264 (``yuv420p``, CRF 17), the file browsers, phones
  and desktop players open; for videos people watch (play, reports, training videos). Colour is
  subsampled with the AREA filter, so with an even upscale each world pixel covers whole 2x2
  chroma blocks and keeps its colour (FFmpeg's default bicubic filter bleeds colour across pixel
  edges: measured 2.4x the error). Odd sizes are padded by one edge pixel (4:2:0 needs even sizes).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


class _Mp4Writer:
    """An mp4 file written one ``h w 3`` uint8 RGB frame at a time through a ``.partial`` file."""

    codec = ""

    def __init__(self, path: str | Path, fps: float | Fraction, keyframe_interval: int) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self.rate = Fraction(fps).limit_denominator(1001)
        self.keyframe_interval = keyframe_interval
        self.frames = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.partial), mode="w", format="mp4")
        self._stream = None

    def _stream_settings(self) -> tuple[str, dict[str, str]]:
        """``(pix_fmt, codec options)`` of the stream."""
        raise NotImplementedError

    def _prepare(self, image: av.VideoFrame) -> av.VideoFrame:
        """The frame as the stream takes it (resized, converted)."""
        return image

    def write(self, frame: np.ndarray) -> None:
        """Append one ``h w 3`` uint8 RGB frame."""
        image = self._prepare(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24"))
        if self._stream is None:
            pix_fmt, options = self._stream_settings()
            stream = self._container.add_stream(self.codec, rate=self.rate)
            stream.width, stream.height, stream.pix_fmt = image.width, image.height, pix_fmt
            stream.time_base = 1 / self.rate
            # one thread: frames this small gain nothing from threads, and the bytes stay identical across machines
            stream.options = {"g": str(self.keyframe_interval), "threads": "1", **options}
            self._stream = stream
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

    def __enter__(self) -> _Mp4Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(keep=exc_type is None)


class VideoWriter(_Mp4Writer):
    """Lossless RGB H.264 mp4 (see the module docstring for why).

    Args:
        path: output ``.mp4`` file.
        fps: frame rate stored in the file (a :class:`~fractions.Fraction` keeps e.g. 60/7 exact).
        size: ``(height, width)`` to resize frames to (FFmpeg's scaler), or ``None`` to keep them.
        keyframe_interval: frames between keyframes (a seek decodes at most this many extra).
        interpolation: scaler used for resizing (``AREA`` averages, so thin sprites stay visible).
    """

    codec = "libx264rgb"

    def __init__(self, path: str | Path, fps: float | Fraction, size: tuple[int, int] | None = None,
                 keyframe_interval: int = 16, interpolation: str = "AREA") -> None:
        super().__init__(path, fps, keyframe_interval)
        self.size, self.interpolation = size, interpolation

    def _stream_settings(self) -> tuple[str, dict[str, str]]:
        return "rgb24", {"qp": "0"}

    def _prepare(self, image: av.VideoFrame) -> av.VideoFrame:
        if self.size is not None and (image.height, image.width) != tuple(self.size):
            image = image.reformat(width=self.size[1], height=self.size[0], format="rgb24",
                                   interpolation=self.interpolation, threads=1)
        return image


class PlayableVideoWriter(_Mp4Writer):
    """Ordinary H.264 mp4 (``yuv420p``, CRF ``crf``) that every player opens (see the module docstring)."""

    codec = "libx264"

    def __init__(self, path: str | Path, fps: float, keyframe_interval: int = 20, crf: int = 17) -> None:
        super().__init__(path, fps, keyframe_interval)
        self.crf = crf

    def _stream_settings(self) -> tuple[str, dict[str, str]]:
        return "yuv420p", {"crf": str(self.crf), "preset": "veryfast"}

    def write(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        if height % 2 or width % 2:
            frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        super().write(frame)

    def _prepare(self, image: av.VideoFrame) -> av.VideoFrame:
        return image.reformat(format="yuv420p", interpolation="AREA", threads=1)


def open_writer(path: str | Path, fps: float, lossless: bool = False) -> PlayableVideoWriter | VideoWriter:
    """An mp4 writer: playable H.264 by default, lossless RGB H.264 with ``lossless=True``; a
    keyframe every two seconds."""
    cls = VideoWriter if lossless else PlayableVideoWriter
    return cls(path, fps=fps, keyframe_interval=max(1, round(fps)) * 2)


def write_video(frames: Iterable[np.ndarray], path: str | Path, fps: float, lossless: bool = False) -> Path:
    """Write ``h w 3`` uint8 RGB frames to an mp4 (see :func:`open_writer`); returns ``path``."""
    with open_writer(path, fps, lossless) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)


def encode_png(image: np.ndarray) -> bytes:
    """``h w 3`` uint8 RGB -> PNG file bytes (FFmpeg's encoder through PyAV)."""
    image = np.ascontiguousarray(image)
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = image.shape[1], image.shape[0], "rgb24"
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    return b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])
