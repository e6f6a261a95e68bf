"""Reading video files with PyAV without loading whole videos into memory.

:func:`probe` reads a file's header and packet table (no decoding beyond one frame) to learn its
frame count, rate and size; :func:`read_frames` seeks to the first wanted frame and decodes only
up to the last, converting any pixel format (grey, alpha, YUV, palette) to RGB at the requested
size inside FFmpeg's scaler.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".gif", ".mpg", ".mpeg", ".ogv", ".flv", ".ts")

logging.getLogger("libav").setLevel(logging.ERROR)
av.logging.set_level(av.logging.PANIC)


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
    """Frame count, frame rate and size of the first video stream; raises :class:`VideoReadError`."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path} is empty (0 bytes)")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path} has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if not rate:
                raise VideoReadError(f"{path} has no frame rate")
            packets = sum(1 for packet in container.demux(stream) if packet.size > 0)
            declared = stream.frames or packets
            num_frames = min(declared, packets) if packets else declared
            width, height = stream.codec_context.width, stream.codec_context.height
        # a file that cannot decode its first and last frames is unusable
        read_frames(path, [0, num_frames - 1], None, fps=float(rate))
    except VideoReadError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, IndexError, StopIteration) as err:
        raise VideoReadError(f"{path} could not be read: {err}") from err
    if num_frames <= 0:
        raise VideoReadError(f"{path} holds no frames")
    return VideoInfo(num_frames=num_frames, fps=float(rate), width=width, height=height)


def read_frames(
    path: str | Path,
    indices: list[int],
    size: tuple[int, int] | None,
    fps: float,
    interpolation: str = "AREA",
) -> np.ndarray:
    """Decode the frames at sorted ``indices`` -> ``t h w 3`` uint8 RGB at ``size`` (h, w).

    Seeks to the keyframe before the first index and decodes forward only to the last index.
    A frame index missing from the stream (variable frame rate) takes the next decoded frame.
    """
    wanted = sorted(set(indices))
    first, last = wanted[0], wanted[-1]
    found: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            time_base = stream.time_base or Fraction(1, 1)
            start = stream.start_time or 0
            if first > 0:
                container.seek(start + int(first / fps / time_base), stream=stream, backward=True, any_frame=False)
            previous = None
            for frame in container.decode(stream):
                pts = frame.pts if frame.pts is not None else frame.dts
                index = round(float((pts - start) * time_base) * fps) if pts is not None else (previous or -1) + 1
                previous = index
                if index < first:
                    continue
                if any(first <= i <= index for i in wanted if i not in found):
                    image = _to_rgb(frame, size, interpolation)
                    for i in wanted:
                        if i not in found and i <= index:
                            found[i] = image
                if index >= last:
                    break
    except av.error.FFmpegError as err:
        raise VideoReadError(f"{path} could not be decoded: {err}") from err
    if len(found) < len(wanted):
        missing = [i for i in wanted if i not in found]
        raise VideoReadError(f"{path} ended before frame {missing[0]} (asked for frames {first}..{last})")
    return np.stack([found[i] for i in indices])


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int] | None, interpolation: str) -> np.ndarray:
    if size is None:
        return frame.to_ndarray(format="rgb24")
    height, width = size
    return frame.reformat(width=width, height=height, format="rgb24", interpolation=interpolation).to_ndarray()
