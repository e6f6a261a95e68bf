"""Reading video files and images with PyAV without holding whole videos in memory.

Frame indices are time slots: frame ``i`` of a file is what is on screen at ``i / fps`` seconds
after the stream starts, with ``fps`` the stream's average rate. For a constant-rate file this is
simply the i-th frame; in a variable-rate file a slot without a frame of its own shows the
previous frame, as a player would.

:func:`probe` reads a file's packet table (no decoding beyond its first and last frames) to learn
its frame count, rate and size. :func:`read_frames` seeks to the keyframe before the first wanted
frame and decodes only up to the last, converting any pixel format (grey, YUV, palette, alpha) to
RGB at the requested size inside FFmpeg's scaler (:func:`frame_to_rgb`); alpha is composited over
black. FFmpeg decodes still images as one-frame streams, so images go through the same code.
"""

from __future__ import annotations

import logging
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
                    held_image = frame_to_rgb(held, size, interpolation)
                found[pending.popleft()] = held_image
            image = None
            while pending and pending[0] == index:
                image = image if image is not None else frame_to_rgb(frame, size, interpolation)
                found[pending.popleft()] = image
            if not pending:
                break
            held, held_image = frame, image
    return found


def frame_to_rgb(frame: av.VideoFrame, size: tuple[int, int] | None = None, interpolation: str = "AREA",
                 ) -> np.ndarray:
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
