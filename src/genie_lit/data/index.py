"""The index of a video folder: which files are readable, their sizes and rates, their splits.

Probing thousands of files is slow, so the result is cached next to the data in
``.genie_lit_index.json`` keyed by (relative path, size, modification time): a restart re-probes
only files that changed. Clip starts are derived from this metadata (cheap) for any clip length.

A recorder ``manifest.json`` in the folder, when present, supplies each episode's split, game and
action sidecar; otherwise files are split deterministically by a hash of their relative path, so
no file (episode) ever appears in two splits.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from genie_lit.media.read import VIDEO_EXTENSIONS, VideoInfo, VideoReadError, probe

INDEX_FILE = ".genie_lit_index.json"
MANIFEST_FILE = "manifest.json"
ACTIONS_SUFFIX = ".actions.npy"
SPLITS = ("train", "val", "test")
_INDEX_VERSION = 2  # 2: frame counts are time slots (genie_lit.media.read), not packets


@dataclass
class VideoEntry:
    """One readable video file with what the index knows of it."""

    path: Path
    relpath: str
    info: VideoInfo
    game: str | None = None
    split: str | None = None
    actions_path: Path | None = None


@dataclass
class ScanResult:
    videos: list[VideoEntry]
    skipped: dict[str, str] = field(default_factory=dict)  # relative path -> reason
    probed: int = 0  # files probed by this scan (0 when everything came from the cache)


def list_video_files(root: Path, extensions: tuple[str, ...] = VIDEO_EXTENSIONS) -> list[Path]:
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in exts
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def scan_folder(root: str | Path, extensions: tuple[str, ...] = VIDEO_EXTENSIONS, use_cache: bool = True) -> ScanResult:
    """Probe every video file under ``root`` (recursively), reusing the cached index when valid."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist; pass an existing folder as data.data_dir")
    cache_path = root / INDEX_FILE
    cached = _load_cache(cache_path) if use_cache else {}
    manifest = load_manifest(root)
    entries, skipped, fresh, probed = [], {}, {}, 0
    for path in list_video_files(root, extensions):
        rel = path.relative_to(root).as_posix()
        try:
            stat = path.stat()
        except OSError as err:  # vanished or unreadable since the listing
            skipped[rel] = f"{path} could not be read: {err}"
            continue
        key = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        record = cached.get(rel)
        if record is None or record.get("key") != key:
            probed += 1
            try:
                record = {"key": key, "info": probe(path).to_dict(), "error": None}
            except (VideoReadError, OSError) as err:
                record = {"key": key, "info": None, "error": str(err)}
        fresh[rel] = record
        if record["error"]:
            skipped[rel] = record["error"]
            continue
        meta = manifest.get(rel, {})
        actions = meta.get("actions")
        actions_path = root / actions if actions else path.with_name(path.name.rsplit(".", 1)[0] + ACTIONS_SUFFIX)
        entries.append(VideoEntry(
            path=path, relpath=rel, info=VideoInfo(**record["info"]), game=meta.get("game"),
            split=meta.get("split"), actions_path=actions_path if actions_path.exists() else None,
        ))
    if use_cache and (probed or set(fresh) != set(cached)):
        _save_cache(cache_path, fresh)
    return ScanResult(entries, skipped, probed)


def load_manifest(root: Path) -> dict[str, dict]:
    """``{relative video path: episode record}`` from ``manifest.json``, or ``{}``."""
    path = root / MANIFEST_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {Path(episode["file"]).as_posix(): episode for episode in data.get("episodes", [])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"{path} is not a valid genie_lit manifest ({err!r}); it must be JSON of the form "
            '{"episodes": [{"file": "game/ep0000.mp4", "split": "train", ...}, ...]}. '
            "Fix it or move it away (files are then split by a hash of their path)."
        ) from err


def split_files(videos: list[VideoEntry], val_fraction: float, test_fraction: float,
                seed: int = 0) -> dict[str, list[VideoEntry]]:
    """Deterministic split by file. Manifest splits win; other files are ordered by a seeded hash
    of their path and cut by the fractions (at least one file per requested split when possible)."""
    splits: dict[str, list[VideoEntry]] = {name: [] for name in SPLITS}
    free = []
    for video in videos:
        if video.split in splits:
            splits[video.split].append(video)
        else:
            free.append(video)
    free.sort(key=lambda v: hashlib.sha1(f"{seed}:{v.relpath}".encode()).hexdigest())
    n = len(free)
    n_test = _share(n, test_fraction)
    n_val = _share(n - n_test, val_fraction * n / max(1, n - n_test))
    splits["test"] += free[:n_test]
    splits["val"] += free[n_test:n_test + n_val]
    splits["train"] += free[n_test + n_val:]
    return splits


def _share(n: int, fraction: float) -> int:
    if fraction <= 0 or n < 2:
        return 0
    return min(n - 1, max(1, round(n * fraction)))


def _load_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data.get("files", {}) if data.get("version") == _INDEX_VERSION else {}


def _save_cache(path: Path, files: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"version": _INDEX_VERSION, "files": files}))
        os.replace(tmp, path)
    except OSError as err:  # a read-only data folder still works, it just re-probes next time
        warnings.warn(f"could not write the video index cache {path}: {err}", stacklevel=2)
