"""Streamable shards of a video folder: what ``genie-lit prepare`` writes.

A video folder (its action sidecars and ``manifest.json`` when present) is cut into the same
clips :class:`~genie_lit.data.VideoDataModule` serves (same split by file, clip length, rate and
size) and each clip is written as one item of a `litdata <https://github.com/Lightning-AI/litData>`_
chunked dataset, one per split (``OUT/train``, ``OUT/val``, ``OUT/test``)::

    index    int     position of the clip in its split (the order of the folder: file, then start)
    video    bytes   the clip as an mp4 at the training size and rate (lossless RGB H.264 by default)
    actions  int16   ``t-1`` recorded actions, -1 without a sidecar
    game     int     index into the ``games`` list of ``OUT/genie_lit_shards.json``, -1 if unknown
    source   str     ``relative/path.mp4#start_frame``
    tokens   uint16  ``t h w`` tokenizer codes (only when a tokenizer was given)
    lam_actions int16 ``t-1`` latent actions (only when a latent action model was given)

``OUT/genie_lit_shards.json`` records the settings, the games, the counts per split, what was
skipped and the bytes on disk. Unreadable files and files shorter than one clip are skipped and
counted as the video data module counts them; clips that fail to decode mid-file are counted too.

Models never enter here: a quality score and tokens come in as plain functions of the frames
(``genie-lit prepare`` builds them from checkpoints).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from genie_lit.data.clips import ClipDataset, source_indices
from genie_lit.data.index import SPLITS, scan_folder, split_files
from genie_lit.media.memory import encode_clip
from genie_lit.media.read import VIDEO_EXTENSIONS, VideoReadError, read_frames

META_FILE = "genie_lit_shards.json"
FORMAT_VERSION = 1

ClipFunction = Callable[[np.ndarray], object]  # t h w 3 uint8 frames -> a score, tokens or actions


@dataclass
class PrepareReport:
    """What :func:`prepare_shards` wrote and skipped."""

    clips: dict[str, int] = field(default_factory=dict)  # split -> clips written
    scored: int = 0  # clips the quality filter saw
    dropped: int = 0  # of which below the minimum score
    unreadable: dict[str, str] = field(default_factory=dict)  # relative path -> reason
    too_short: list[str] = field(default_factory=list)
    failed_clips: int = 0  # clips of readable files that did not decode
    source_bytes: int = 0  # the video files the shards came from (sidecars not counted)
    shard_bytes: int = 0  # every file under the output folder

    @property
    def kept(self) -> int:
        return sum(self.clips.values())

    @property
    def size_ratio(self) -> float:
        return self.shard_bytes / self.source_bytes if self.source_bytes else float("nan")

    def summary(self) -> str:
        lines = [f"wrote {self.kept} clips ({', '.join(f'{k} {v}' for k, v in self.clips.items())}): "
                 f"{self.shard_bytes / 1e6:.2f} MB of shards from {self.source_bytes / 1e6:.2f} MB of video "
                 f"(size ratio {self.size_ratio:.2f})"]
        if self.scored:
            lines.append(f"quality filter kept {self.scored - self.dropped} of {self.scored} clips "
                         f"({(self.scored - self.dropped) / self.scored:.0%})")
        skipped = len(self.unreadable) + len(self.too_short)
        if skipped or self.failed_clips:
            names = ", ".join(list(self.unreadable)[:3] + self.too_short[:3])
            lines.append(f"skipped {skipped} file(s): {len(self.unreadable)} unreadable (corrupt, truncated, empty or "
                         f"not video), {len(self.too_short)} shorter than one clip (e.g. {names}); "
                         f"{self.failed_clips} clip(s) that did not decode")
        return "\n".join(lines)


def prepare_shards(
    data_dir: str | Path,
    out_dir: str | Path,
    clip_length: int = 16,
    resolution: int | tuple[int, int] = 64,
    fps: float | None = None,
    clip_stride: int | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    crf: int | None = None,
    chunk_bytes: str = "64MB",
    score: ClipFunction | None = None,
    min_score: float | None = None,
    extras: dict[str, ClipFunction] | None = None,
    extras_meta: dict | None = None,
    extensions: tuple[str, ...] = VIDEO_EXTENSIONS,
    overwrite: bool = False,
) -> PrepareReport:
    """Write the clips of ``data_dir`` as shards under ``out_dir`` and return what was done.

    ``score(frames)`` (with ``min_score``) drops clips scoring below it; ``extras`` maps item
    names (``tokens``, ``lam_actions``) to functions of the frames stored beside them, and
    ``extras_meta`` (e.g. the tokenizer's codebook size and grid) goes into the metadata file.
    ``clip_stride`` applies to the training split, as in the video data module.
    """
    from litdata.streaming.writer import BinaryWriter

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    size = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
    if data_dir.resolve() == out_dir.resolve() or data_dir.resolve().is_relative_to(out_dir.resolve()):
        raise ValueError(f"--out {out_dir} would hold the video folder {data_dir}; write the shards to another folder")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out_dir} is not empty; choose a new --out folder or pass --overwrite")
        shutil.rmtree(out_dir)
    scan = scan_folder(data_dir, extensions)
    if not scan.videos:
        raise FileNotFoundError(f"no readable video in {data_dir} ({len(scan.skipped)} unreadable file(s)); "
                                "point --data at a folder of video files, e.g. one written by `genie-lit record atari`")
    report = PrepareReport(unreadable=dict(scan.skipped))
    report.source_bytes = sum(v.path.stat().st_size for v in scan.videos) + sum(
        (data_dir / rel).stat().st_size for rel in scan.skipped if (data_dir / rel).exists())
    games = sorted({v.game for v in scan.videos if v.game})
    splits = split_files(scan.videos, val_fraction, test_fraction, seed)
    for split in SPLITS:
        clips = ClipDataset(splits[split], clip_length, size, fps, clip_stride if split == "train" else None, games)
        report.too_short += clips.too_short
        writer = BinaryWriter(str(out_dir / split), chunk_bytes=chunk_bytes)
        kept = 0
        for vi, start in clips.clips:
            video = clips.videos[vi]
            indices = source_indices(start, clip_length, clips.step(video))
            try:
                frames = read_frames(video.path, indices, size, fps=video.info.fps)
            except VideoReadError:
                report.failed_clips += 1
                continue
            if score is not None:
                report.scored += 1
                if min_score is not None and float(score(frames)) < min_score:
                    report.dropped += 1
                    continue
            item = {"index": kept, "video": encode_clip(frames, fps or video.info.fps, crf),
                    "actions": clips._actions(video, indices).numpy().astype(np.int16),
                    "game": games.index(video.game) if video.game in games else -1,
                    "source": f"{video.relpath}#{start}"}
            for name, function in (extras or {}).items():
                item[name] = np.asarray(function(frames))
            writer[kept] = item
            kept += 1
        if kept:
            writer.done()
            writer.merge()
        report.clips[split] = kept
    report.shard_bytes = _folder_bytes(out_dir)
    meta = {"format": FORMAT_VERSION, "source": str(data_dir.resolve()), "clip_length": clip_length,
            "resolution": list(size), "fps": fps, "clip_stride": clip_stride, "seed": seed, "crf": crf,
            "games": games, "items": ["index", "video", "actions", "game", "source", *(extras or {})],
            "min_score": min_score if score is not None else None, **(extras_meta or {}), "report": asdict(report)}
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=1))
    report.shard_bytes = _folder_bytes(out_dir)
    return report


def read_meta(shards_dir: str | Path) -> dict:
    """``genie_lit_shards.json`` of a local shards folder, ``{}`` for a remote one or if absent."""
    path = Path(str(shards_dir)) / META_FILE
    if "://" in str(shards_dir) or not path.exists():
        return {}
    return json.loads(path.read_text())


def _folder_bytes(root: Path) -> int:
    return sum(os.path.getsize(p) for p in root.rglob("*") if p.is_file())
