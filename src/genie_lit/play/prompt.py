"""Prompts for a world: any image or the first frames of any video, read with PyAV.

Genie is prompted with one or more frames (§2.2 "Inference": a game frame, a photo or a sketch).
FFmpeg decodes still images as one-frame streams, so PNG, JPEG, BMP, GIF, WebP and TIFF images
and every video FFmpeg knows go through one decode loop here, without Pillow, with the RGB
conversion of :mod:`genie_lit.media`. Frames keep their
own size: :meth:`Genie.reset` resizes them to the world's resolution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np

from genie_lit.media.read import frame_to_rgb

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
ACCEPTED = ("an image (PNG, JPEG, BMP, GIF, WebP, TIFF) or a video FFmpeg can decode "
            "(mp4, mkv, webm, avi, mov, ...)")
# demuxers that turn arbitrary bytes into pictures (text as ANSI art, raw data): never a prompt
_NOT_PICTURES = {"tty", "bin", "data", "rawvideo"}
_DECODE_ERRORS = (av.error.FFmpegError, OSError, ValueError, IndexError, EOFError, StopIteration)


class PromptError(ValueError):
    """A prompt that is missing or not an image or video."""


def load_prompt(path: str | Path, max_frames: int = 1) -> np.ndarray:
    """The first ``max_frames`` frames of an image or video file -> ``t h w 3`` uint8 RGB.

    An image gives one frame; a video shorter than ``max_frames`` gives all its frames.
    Transparent pixels are composited over black. Raises :class:`PromptError` naming the file
    and what is accepted when it is missing or neither an image nor a video.
    """
    path = Path(path)
    if max_frames < 1:
        raise PromptError(f"a prompt needs at least one frame, asked for {max_frames}")
    if not path.is_file():
        raise PromptError(f"prompt {path} does not exist; pass {ACCEPTED}")
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if container.format.name in _NOT_PICTURES or not container.streams.video:
                raise PromptError(f"prompt {path} is not an image or a video (FFmpeg reads it as "
                                  f"{container.format.long_name!r}); pass {ACCEPTED}")
            for frame in container.decode(container.streams.video[0]):
                frames.append(frame_to_rgb(frame))
                if len(frames) == max_frames:
                    break
    except PromptError:
        raise
    except _DECODE_ERRORS as err:
        if not frames:
            detail = getattr(err, "strerror", None) or str(err)
            raise PromptError(f"prompt {path} is not an image or a video (FFmpeg: {detail}); "
                              f"pass {ACCEPTED}") from err
        # a truncated video: the frames decoded before the damage make a usable prompt
    if not frames:
        raise PromptError(f"prompt {path} holds no decodable frame; pass {ACCEPTED}")
    return np.stack(frames)


def as_prompt(prompt: Any, max_frames: int = 1) -> Any:
    """A path (str or Path) is loaded with :func:`load_prompt`; arrays and tensors pass through."""
    if isinstance(prompt, (str, Path)):
        return load_prompt(prompt, max_frames)
    return prompt


def default_prompt(image_size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A neutral start frame (``1 h w 3`` uint8) for when no prompt is given: a soft vertical
    gradient with a little seeded texture. A real frame from the training domain prompts better."""
    height, width = image_size
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 110, height, dtype=np.float32)[:, None, None]
    texture = rng.normal(0, 12, size=(height, width, 3)).astype(np.float32)
    image = np.clip(ramp + texture + np.array([0, 10, 30], dtype=np.float32), 0, 255)
    return image.astype(np.uint8)[None]
