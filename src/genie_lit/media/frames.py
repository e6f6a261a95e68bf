"""Frames as people see them: float tensors to uint8 images, nearest-neighbour upscaling, the
action drawn on a frame with a tiny built-in bitmap font, and panels tiled into one video.

Why labels: a latent action has no name, only an index, so a rollout is readable only if each
frame or panel says which index produced it. Frames are labelled ``P`` (the world's rendition of
the prompt), ``R`` (a real frame) or with the action's digits, in the top-left corner on a dark box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

_GAP = 2  # white pixels between panels

# 3x5 glyphs, one string of rows per character ('#' = ink)
_GLYPHS = {
    "0": ("###", "#.#", "#.#", "#.#", "###"), "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"), "3": ("###", "..#", ".##", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"), "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"), "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"), "9": ("###", "#.#", "###", "..#", "###"),
    "P": ("###", "#.#", "###", "#..", "#.."), "R": ("##.", "#.#", "##.", "#.#", "#.#"),
    "-": ("...", "...", "###", "...", "..."),
    " ": ("...", "...", "...", "...", "..."),
}
_FONT = {ch: np.array([[c == "#" for c in row] for row in rows]) for ch, rows in _GLYPHS.items()}



def to_uint8(video: Tensor | np.ndarray) -> Tensor:
    """Float frames in [0, 1] (any shape) -> uint8 of the same shape, on the CPU; uint8 passes through."""
    video = torch.as_tensor(video).detach()
    if video.dtype == torch.uint8:
        return video.cpu()
    return (video.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def to_image(frame: Tensor | np.ndarray) -> np.ndarray:
    """A world frame (``c h w`` float in [0, 1]) -> ``h w 3`` uint8; uint8 ``h w 3`` arrays pass through."""
    if isinstance(frame, np.ndarray) and frame.dtype == np.uint8:
        return frame
    return to_uint8(frame).permute(1, 2, 0).contiguous().numpy()


def to_images(video: Tensor) -> np.ndarray:
    """``t c h w`` float frames in [0, 1] (or uint8) -> ``t h w 3`` uint8 (what the writers take)."""
    return to_uint8(video).permute(0, 2, 3, 1).contiguous().numpy()


def upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour ``scale``-times enlargement of ``h w 3`` (pixel art stays sharp)."""
    if scale == 1:
        return image
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def draw_label(image: np.ndarray, text: str, cell: int | None = None) -> np.ndarray:
    """A copy of ``image`` (``h w 3`` uint8) with ``text`` (digits, ``P``, ``R``, ``-``) in the top-left
    corner, white on a dark box; ``cell`` is the size of one font pixel (default: 1/64 of the frame)."""
    unknown = set(text) - set(_FONT)
    if unknown:
        raise ValueError(f"the overlay font has no glyph for {sorted(unknown)}; use digits, 'P', 'R' or '-'")
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


def show(frame: Tensor | np.ndarray, action: int | None, scale: int, overlay: bool = True) -> np.ndarray:
    """A world frame upscaled, with its action drawn on it: what files and pages show."""
    image = upscale(to_image(frame), scale)
    return draw_label(image, label_for(action)) if overlay else image


def tile(panels: Tensor, columns: int) -> Tensor:
    """Panels ``n T c h w`` -> one video ``T c H W``: a grid of ``columns`` with white gaps (1.0 for
    float panels, 255 for uint8)."""
    n, t, c, h, w = panels.shape
    rows = math.ceil(n / columns)
    white = 255 if panels.dtype == torch.uint8 else 1
    out = panels.new_full((t, c, rows * h + (rows - 1) * _GAP, columns * w + (columns - 1) * _GAP), white)
    for k in range(n):
        r, col = divmod(k, columns)
        out[:, :, r * (h + _GAP):r * (h + _GAP) + h, col * (w + _GAP):col * (w + _GAP) + w] = panels[k]
    return out


def filmstrip(panels: Tensor) -> Tensor:
    """Panels ``n T c h w`` -> one image ``c H W``: a row per panel, its frames along the row."""
    n, t = panels.shape[:2]
    return tile(panels.reshape(n * t, 1, *panels.shape[2:]), columns=t)[0]



def label_panels(panels: Tensor, labels: Sequence[str | Sequence[str]] | None, scale: int = 4) -> Tensor:
    """Panels ``n T c h w`` (float in [0, 1] or uint8) upscaled ``scale`` times (nearest) with their
    labels drawn on: ``labels[i]`` is one text for every frame of panel ``i`` or one per frame
    (``None``: no labels). Returns ``n T c (h*scale) (w*scale)`` uint8."""
    if labels is not None and len(labels) != panels.shape[0]:
        raise ValueError(f"{panels.shape[0]} panels but {len(labels)} labels")
    out = []
    for i, panel in enumerate(to_uint8(panels)):
        texts = [None] * len(panel) if labels is None else \
            [labels[i]] * len(panel) if isinstance(labels[i], str) else list(labels[i])
        frames = [upscale(frame.permute(1, 2, 0).numpy(), scale) for frame in panel]
        frames = [draw_label(frame, text) if text else frame for frame, text in zip(frames, texts)]
        out.append(torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2))
    return torch.stack(out)


def panel_video(panels: Tensor, columns: int, labels: Sequence[str | Sequence[str]] | None = None,
                scale: int = 4) -> np.ndarray:
    """Panels ``n T c h w`` -> ``T H W 3`` uint8 frames people can see: each panel upscaled
    ``scale`` times and labelled (:func:`label_panels`), tiled ``columns`` wide (:func:`tile`)."""
    video = tile(label_panels(panels, labels, scale), columns)
    return video.permute(0, 2, 3, 1).contiguous().numpy()
