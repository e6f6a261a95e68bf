"""Reading and writing video files with PyAV without holding whole videos in memory.

Frame indices are time slots: frame ``i`` of a file is what is on screen at ``i / fps`` seconds
after the stream starts, with ``fps`` the stream's average rate. For a constant-rate file this is
simply the i-th frame; in a variable-rate file a slot without a frame of its own shows the
previous frame, as a player would.

:func:`probe` reads a file's packet table (no decoding beyond its first and last frames) to learn
its frame count, rate and size. :func:`read_frames` seeks to the keyframe before the first wanted
frame and decodes only up to the last, converting any pixel format (grey, YUV, palette, alpha) to
RGB at the requested size inside FFmpeg's scaler; alpha is composited over black.

:class:`VideoWriter` writes lossless RGB H.264 (``libx264rgb`` at ``qp 0``) in mp4. Why this codec:
Atari frames at 64x64 are pixel art whose one-pixel sprites (a ball, a paddle edge) carry the
action signal. Ordinary H.264 stores colour at half resolution (yuv420p) and quantises, which
smears exactly those pixels; ``libx264rgb`` keeps full-resolution RGB and ``qp 0`` makes it
lossless, so a frame reads back bit-exactly, while inter-frame prediction still makes mostly
static game screens small (a few hundred bytes a frame). A short keyframe interval (default 16
frames, about one clip) bounds what a clip read must decode after a seek. FFV1 or PNG-in-MOV are
also lossless but larger and not mp4; mp4 keeps the data set in the common container.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".gif", ".mpg", ".mpeg", ".ogv", ".flv", ".ts")

logging.getLogger("libav").setLevel(logging.ERROR)
av.logging.set_level(av.logging.PANIC)

_DECODE_ERRORS = (av.error.FFmpegError, OSError, ValueError, IndexError, EOFError)


class VideoReadError(RuntimeError):
    """A file that is not a readable video (corrupt, truncated, empty, or not video at all)."""


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    width: int
    height: int

    def to_dict(self) -> dict:
        return asdict(self)


def probe(path: str | Path) -> VideoInfo:
    """Frame count (time slots), frame rate and size of the first video stream.

    Raises :class:`VideoReadError` for an empty, unreadable or truncated file, one without a
    video stream, or one whose first or last frame does not decode.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise VideoReadError(f"{path} is empty (0 bytes)")
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path} has no video stream")
            stream = container.streams.video[0]
            # the end-of-stream marker has size 0; a packet without pts leaves frames to be counted
            times = [packet.pts for packet in container.demux(stream) if packet.size > 0]
            rate = _frame_rate(stream, [t for t in times if t is not None])
            if not rate:
                raise VideoReadError(f"{path} has no frame rate")
            slot = _slotter(stream, rate)
            timed = times and all(t is not None for t in times)
            num_frames = max(slot(t) for t in times) + 1 if timed else len(times)
            width, height = stream.codec_context.width, stream.codec_context.height
        if num_frames <= 0:
            raise VideoReadError(f"{path} holds no frames")
        read_frames(path, [0, num_frames - 1], (8, 8), fps=rate)  # both ends must decode
    except VideoReadError:
        raise
    except _DECODE_ERRORS as err:
        raise VideoReadError(f"{path} could not be read: {err}") from err
    return VideoInfo(num_frames=num_frames, fps=rate, width=width, height=height)


def _frame_rate(stream: av.video.stream.VideoStream, times: list[int]) -> float:
    """The stream's frame rate: FFmpeg's guess (``r_frame_rate``, the capture rate) when the frames
    sit on its time grid, else the mean rate of the timestamps, else the declared average.

    They agree for constant-rate files. A variable-rate file that dropped repeated frames keeps
    the capture rate on its grid while its mean rate is lower; a GIF's centisecond delays
    (7, 7, 6 for 15 fps) are near enough the 15 fps grid; jittery timestamps are averaged.
    """
    time_base = float(stream.time_base or 1)
    guess = float(stream.guessed_rate or stream.base_rate or 0)
    stamps = np.unique(np.asarray(times, dtype=np.float64))
    if len(stamps) < 2:
        return float(stream.average_rate or 0) or guess
    if 0 < guess <= 240.0:
        steps = np.diff(stamps) * time_base * guess
        if steps.min() > 0.5 and np.mean(np.abs(steps - np.round(steps)) <= 0.15) >= 0.9:
            return guess
    return (len(stamps) - 1) / ((stamps[-1] - stamps[0]) * time_base)
    if len(times) > 1 and base <= 240.0:
        steps = np.diff(np.sort(np.asarray(times, dtype=np.float64))) * float(stream.time_base or 1) * base
        steps = steps[steps > 0]
        if steps.size and np.mean(np.abs(steps - np.round(steps)) < 0.1) >= 0.9 and steps.min() > 0.5:
            return base
    return average or base


def read_frames(
    path: str | Path,
    indices: list[int],
    size: tuple[int, int] | None,
    fps: float,
    interpolation: str = "AREA",
) -> np.ndarray:
    """Decode the frames at ``indices`` -> ``t h w 3`` uint8 RGB at ``size`` (h, w), in the order given.

    Seeks to the keyframe before the first index and decodes forward only to the last index. If
    the container cannot seek precisely (the seek lands after the first index, or frames carry no
    timestamps) it decodes from the start instead.
    """
    wanted = sorted(set(indices))
    if not wanted or wanted[0] < 0:
        raise ValueError(f"frame indices must be non-negative and not empty, got {indices}")
    try:
        try:
            found = _decode(path, wanted, size, fps, interpolation, seek=wanted[0] > 0)
        except _SeekMissed:
            found = _decode(path, wanted, size, fps, interpolation, seek=False)
    except _SeekMissed as err:  # cannot happen without a seek; kept as a guard
        raise VideoReadError(f"{path} could not be decoded: {err}") from err
    except _DECODE_ERRORS as err:
        raise VideoReadError(f"{path} could not be decoded: {err}") from err
    if len(found) < len(wanted):
        missing = [i for i in wanted if i not in found]
        raise VideoReadError(f"{path} ended before frame {missing[0]} (asked for frames {wanted[0]}..{wanted[-1]})")
    return np.stack([found[i] for i in indices])


class _SeekMissed(Exception):
    pass


def _slotter(stream: av.video.stream.VideoStream, fps: float):
    """``pts -> frame index`` (the nearest time slot at ``fps``) for ``stream``."""
    time_base = float(stream.time_base or Fraction(1, 1))
    start = stream.start_time or 0
    return lambda pts: round((pts - start) * time_base * fps)


def _decode(path, wanted: list[int], size, fps: float, interpolation: str, seek: bool) -> dict[int, np.ndarray]:
    found: dict[int, np.ndarray] = {}
    pending = deque(wanted)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        slot = _slotter(stream, fps)
        if seek:
            offset = int(wanted[0] / fps / float(stream.time_base or 1))
            try:
                container.seek((stream.start_time or 0) + offset, stream=stream, backward=True, any_frame=False)
            except av.error.FFmpegError as err:  # a container that cannot seek is decoded from the start
                raise _SeekMissed(str(err)) from err
        held, held_image = None, None  # the last decoded frame, shown until the next one's slot
        for count, frame in enumerate(container.decode(stream)):
            if frame.pts is None and seek:
                raise _SeekMissed("frames carry no timestamps")
            index = slot(frame.pts) if frame.pts is not None else count
            if held is None and index > pending[0]:
                if seek:
                    raise _SeekMissed(f"seek landed on frame {index}, after frame {pending[0]}")
                held = frame  # nothing was on screen before the first frame: it fills the gap
            while pending and pending[0] < index:  # slots before this frame show the previous one
                if held_image is None:
                    held_image = _to_rgb(held, size, interpolation)
                found[pending.popleft()] = held_image
            image = None
            while pending and pending[0] == index:
                image = image if image is not None else _to_rgb(frame, size, interpolation)
                found[pending.popleft()] = image
            if not pending:
                break
            held, held_image = frame, image
    return found


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int] | None, interpolation: str) -> np.ndarray:
    """``h w 3`` uint8 RGB at ``size`` (h, w); alpha (and palette transparency) over black."""
    height, width = size if size is not None else (frame.height, frame.width)
    fmt = frame.format
    kwargs = {"width": width, "height": height, "interpolation": interpolation, "threads": 1}
    if frame.color_range:
        kwargs["src_color_range"] = frame.color_range
    if fmt.has_palette or any(c.is_alpha for c in fmt.components):
        rgba = frame.reformat(format="rgba", **kwargs).to_ndarray()
        alpha = rgba[..., 3:].astype(np.uint16)
        return ((rgba[..., :3] * alpha + 127) // 255).astype(np.uint8)
    return frame.reformat(format="rgb24", **kwargs).to_ndarray()


class VideoWriter:
    """Lossless RGB H.264 mp4 writer (see the module docstring for why), one frame at a time.

    Frames are written to a hidden ``.partial`` file that replaces ``path`` only when the writer
    closes without an error, so an interrupted recording never leaves a truncated video behind.

    Args:
        path: output ``.mp4`` file.
        fps: frame rate stored in the file (a :class:`~fractions.Fraction` keeps e.g. 60/7 exact).
        size: ``(height, width)`` to resize frames to (FFmpeg's scaler), or ``None`` to keep them.
        keyframe_interval: frames between keyframes (a seek decodes at most this many extra).
        interpolation: scaler used for resizing (``AREA`` averages, so thin sprites stay visible).
    """

    def __init__(self, path: str | Path, fps: float | Fraction, size: tuple[int, int] | None = None,
                 keyframe_interval: int = 16, interpolation: str = "AREA") -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self.size, self.interpolation = size, interpolation
        self.rate = Fraction(fps).limit_denominator(1001)
        self.frames = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.partial), mode="w", format="mp4")
        self._stream = None
        self._keyframe_interval = keyframe_interval

    def _open_stream(self, height: int, width: int) -> None:
        stream = self._container.add_stream("libx264rgb", rate=self.rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb24"
        stream.time_base = 1 / self.rate
        # one thread: frames this small gain nothing from threads, and the bytes stay identical across machines
        stream.options = {"qp": "0", "g": str(self._keyframe_interval), "threads": "1"}
        self._stream = stream

    def write(self, frame: np.ndarray) -> None:
        """Append one ``h w 3`` uint8 RGB frame."""
        image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if self.size is not None and (image.height, image.width) != tuple(self.size):
            image = image.reformat(width=self.size[1], height=self.size[0], format="rgb24",
                                   interpolation=self.interpolation, threads=1)
        if self._stream is None:
            self._open_stream(image.height, image.width)
        image.pts = self.frames
        for packet in self._stream.encode(image):
            self._container.mux(packet)
        self.frames += 1

    def close(self, keep: bool = True) -> None:
        """Finish the file; ``keep=False`` discards it."""
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

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(keep=exc_type is None)
