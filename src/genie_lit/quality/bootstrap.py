"""Quality labels without a person: automatic 1-5 scores for the junk a video collection holds.

Genie (Bruce et al., 2024, §3 "Data") had people rate 10k videos from 1 (junk) to 5 and trained
a classifier on those ratings that kept 30k of 244k hours. Here the first labels come from rules
that catch the junk of game recordings from the pixels alone:

- ``black`` (1): the clip is (almost) black: mean brightness below ``BLACK_LEVEL``;
- ``static`` (1): nothing moves: no pixel changes between any two consecutive frames;
- ``menu`` (2): a screen that barely moves, e.g. a title or pause menu with a blinking cursor:
  on average fewer than ``MENU_MOTION`` of the pixels change from frame to frame;
- ``scene cut`` (2): the clip jumps to another scene: one transition changes more than
  ``CUT_FRACTION`` of the pixels (a cut, a reset, a loading screen);
- ``play`` (5): everything else.

The classifier trained on these labels (:class:`~genie_lit.quality.QualityClassifier`) scores
clips the rules never saw; people can correct or extend the CSV (``clip,score``) at any time.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

BLACK_LEVEL = 12  # of 255
PIXEL_CHANGE = 8  # of 255: a pixel whose channels move less is unchanged (codec noise)
MENU_MOTION = 0.002
CUT_FRACTION = 0.6
SCORES = {"black": 1, "static": 1, "menu": 2, "scene cut": 2, "play": 5}


def auto_label(frames: np.ndarray) -> tuple[int, str]:
    """``t h w 3`` uint8 frames -> ``(score 1-5, reason)`` (see the module docstring)."""
    video = frames.astype(np.int16)
    if video.mean() < BLACK_LEVEL:
        return SCORES["black"], "black"
    changed = (np.abs(np.diff(video, axis=0)).max(-1) > PIXEL_CHANGE).mean(axis=(1, 2))  # per transition
    if len(changed) == 0 or changed.max() == 0:
        return SCORES["static"], "static"
    if changed.max() > CUT_FRACTION:
        return SCORES["scene cut"], "scene cut"
    if changed.mean() < MENU_MOTION:
        return SCORES["menu"], "menu"
    return SCORES["play"], "play"


def write_labels(path: str | Path, rows: list[tuple[str, int, str]]) -> Path:
    """Write ``clip,score,reason`` rows (the ``reason`` column is for people; training reads ``clip,score``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["clip", "score", "reason"])
        writer.writerows(rows)
    return path
