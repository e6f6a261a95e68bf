"""Data throughput on this machine: how fast `genie-lit record atari` writes frames, and how many
clips per second the VideoDataModule delivers from recorded mp4s with 0 and 2 loader workers.

Records a small Atari set into a temporary folder (or reads ``--data``), then times the index scan
(cold, then from the cache) and the training DataLoader (clips of 16 frames at 64x64, batches of 8,
random clip order as in training). Tokenizer training consumes about 75 frames/s on one CPU thread
(``results/train_throughput.json``), i.e. ~5 clips/s of 16 frames: the loader must stay well above that.

    python benchmarks/data_throughput.py          # prints a table, writes benchmarks/results/data_throughput.json
    python benchmarks/data_throughput.py --data data/atari --workers 0 1 2 --batches 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from genie_lit.data import VideoDataModule, scan_folder
from genie_lit.data.index import INDEX_FILE
from genie_lit.data.record import record_atari

RESULTS = Path(__file__).resolve().parent / "results" / "data_throughput.json"


def time_recorder(out: Path, games: list[str], episodes: int, steps: int) -> dict:
    start = time.perf_counter()
    manifest = record_atari(out, games, episodes=episodes, steps=steps, val_episodes=1)
    seconds = time.perf_counter() - start
    frames = sum(e["frames"] for e in manifest["episodes"])
    size = sum(p.stat().st_size for p in out.rglob("*.mp4"))
    return {"games": games, "episodes": len(manifest["episodes"]), "frames": frames, "seconds": seconds,
            "frames_per_s": frames / seconds, "bytes_per_frame": size / frames,
            "frame_skip": manifest["frame_skip"], "fps": manifest["fps"], "resolution": manifest["resolution"]}


def time_index(data: Path) -> dict:
    (data / INDEX_FILE).unlink(missing_ok=True)
    start = time.perf_counter()
    cold = scan_folder(data)
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    warm = scan_folder(data)
    return {"files": len(cold.videos), "cold_s": cold_s, "cached_s": time.perf_counter() - start,
            "probed_cold": cold.probed, "probed_cached": warm.probed}


def time_loader(data: Path, workers: int, batches: int, clip_length: int, resolution: int, batch_size: int) -> dict:
    dm = VideoDataModule(str(data), clip_length=clip_length, resolution=resolution, fps=15,
                         batch_size=batch_size, num_workers=workers)
    dm.setup("fit")
    loader = dm.train_dataloader()
    start = time.perf_counter()
    iterator, first_batch_s, clips, timed_from = iter(loader), None, 0, None
    while clips < batches * batch_size:
        try:
            batch = next(iterator)
        except StopIteration:  # another epoch (persistent workers stay up)
            iterator = iter(loader)
            continue
        if first_batch_s is None:  # worker start-up and the first batch are reported apart
            first_batch_s, timed_from = time.perf_counter() - start, time.perf_counter()
            continue
        assert batch["video"].shape[1:] == (clip_length, 3, resolution, resolution)
        clips += len(batch["video"])
    seconds = time.perf_counter() - timed_from
    del iterator, loader
    return {"workers": workers, "clips": clips, "seconds": seconds, "clips_per_s": clips / seconds,
            "frames_per_s": clips * clip_length / seconds, "first_batch_s": first_batch_s,
            "train_clips": len(dm.datasets["train"])}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="a recorded folder (default: record one into a temporary folder)")
    parser.add_argument("--games", default="boxing,pong,breakout")
    parser.add_argument("--episodes", type=int, default=4, help="episodes per game to record")
    parser.add_argument("--steps", type=int, default=300, help="steps per episode to record")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batches", type=int, default=100, help="timed batches per worker setting")
    parser.add_argument("--clip-length", type=int, default=16)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    result = {"machine": {"platform": platform.platform(), "python": sys.version.split()[0], "torch": torch.__version__,
                          "cpus": os.cpu_count(), "load_average_at_start": list(os.getloadavg())}}
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "atari"
            result["recorder"] = time_recorder(data, args.games.split(","), args.episodes, args.steps)
        result["index"] = time_index(data)
        result["loader"] = [time_loader(data, w, args.batches, args.clip_length, args.resolution, args.batch)
                            for w in args.workers]
    result["settings"] = {"clip_length": args.clip_length, "resolution": args.resolution, "batch_size": args.batch,
                          "fps": 15, "timed_batches": args.batches}
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    _print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written {args.out}")
    return result


def _print_table(result: dict) -> None:
    rows = []
    if "recorder" in result:
        r = result["recorder"]
        rows.append(("recorder (" + ",".join(r["games"]) + f", frame skip {r['frame_skip']}, "
                     f"{r['resolution'][0]}x{r['resolution'][1]})", f"{r['frames_per_s']:.0f} frames/s",
                     f"{r['frames']} frames, {r['bytes_per_frame']:.0f} B/frame"))
    i = result["index"]
    rows.append((f"index scan of {i['files']} files", f"{i['cold_s']:.2f} s cold",
                 f"{i['cached_s'] * 1000:.0f} ms cached"))
    s = result["settings"]
    for r in result["loader"]:
        rows.append((f"DataModule, {r['workers']} workers ({s['clip_length']}x{s['resolution']}x{s['resolution']}, "
                     f"batch {s['batch_size']})", f"{r['clips_per_s']:.1f} clips/s",
                     f"{r['frames_per_s']:.0f} frames/s, first batch {r['first_batch_s']:.2f} s"))
    width = [max(len(row[k]) for row in rows) for k in range(3)]
    print(" | ".join(h.ljust(w) for h, w in zip(("measure", "rate", "detail"), width)))
    print("-+-".join("-" * w for w in width))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, width)))
    print(f"load average (1, 5, 15 min) at start {result['machine']['load_average_at_start']}, "
          f"at end {result['machine']['load_average_at_end']} on {result['machine']['cpus']} CPUs")


if __name__ == "__main__":
    main()
