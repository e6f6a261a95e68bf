"""Short clips encoded to and decoded from mp4 bytes in memory (the items of streamed shards).

:func:`encode_clip` writes ``t h w 3`` uint8 RGB frames as one mp4 held in memory: lossless RGB
H.264 (``libx264rgb``, ``qp 0``, as :class:`~genie_lit.media.write.VideoWriter` writes data sets)
by default, so a frame reads back bit-exactly, or ordinary lossy H.264 at a CRF. Frames are stored
at the size and rate training uses, so :func:`decode_clip` only decodes: no seek, no resize.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np

from genie_lit.media.read import _DECODE_ERRORS, VideoReadError, frame_to_rgb


def encode_clip(frames: np.ndarray, fps: float, crf: int | None = None) -> bytes:
    """``t h w 3`` uint8 RGB -> mp4 bytes; ``crf=None``: lossless RGB, else ``yuv420p`` at that CRF
    (frame sizes must then be even)."""
    buffer = io.BytesIO()
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264rgb" if crf is None else "libx264", rate=rate)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "rgb24" if crf is None else "yuv420p"
        stream.time_base = 1 / rate
        options = {"qp": "0"} if crf is None else {"crf": str(crf), "preset": "veryfast"}
        stream.options = {"g": str(len(frames)), "threads": "1", **options}  # one keyframe: a clip is read whole
        for t, frame in enumerate(frames):
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            if crf is not None:
                image = image.reformat(format="yuv420p", interpolation="AREA", threads=1)
            image.pts = t
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def decode_clip(data: bytes | memoryview) -> np.ndarray:
    """mp4 bytes -> every frame, ``t h w 3`` uint8 RGB; :class:`VideoReadError` if they do not decode."""
    try:
        with av.open(io.BytesIO(bytes(data)), mode="r") as container:
            frames = [frame_to_rgb(frame) for frame in container.decode(video=0)]
    except _DECODE_ERRORS as err:
        raise VideoReadError(f"a stored clip could not be decoded: {err}") from err
    if not frames:
        raise VideoReadError("a stored clip holds no frame")
    return np.stack(frames)
