"""The one place that reads and writes video and images (PyAV), and turns model frames into
images people can see.

- :mod:`genie_lit.media.read`: :func:`probe` and :func:`read_frames` of video files (and images),
  any pixel format to RGB (:func:`frame_to_rgb`).
- :mod:`genie_lit.media.write`: lossless (:class:`VideoWriter`, data sets) and playable
  (:class:`PlayableVideoWriter`, people) mp4 writers, :func:`encode_png`.
- :mod:`genie_lit.media.frames`: :func:`to_uint8`, :func:`to_image`, nearest upscaling, action
  labels drawn with a built-in bitmap font, panels tiled into one labelled video.
"""

from genie_lit.media.read import VIDEO_EXTENSIONS, VideoInfo, VideoReadError, frame_to_rgb, probe, read_frames
from genie_lit.media.write import PlayableVideoWriter, VideoWriter, encode_png, open_writer, write_video

__all__ = [
    "VIDEO_EXTENSIONS",
    "PlayableVideoWriter",
    "VideoInfo",
    "VideoReadError",
    "VideoWriter",
    "encode_png",
    "frame_to_rgb",
    "open_writer",
    "probe",
    "read_frames",
    "write_video",
]
