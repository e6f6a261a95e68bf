"""Streamed shards vs the mp4 folder: storage and clips/s on this machine.

Records a small Atari set into a temporary folder (or reads ``--data``), writes it as shards with
``genie-lit prepare`` (lossless, and lossy at ``--crf``), and times the training DataLoader of the
folder (``VideoDataModule``) and of the shards (``StreamingVideoDataModule``) with 0 and 2 loader
workers: clips of 16 frames at 64x64, batches of 8, shuffled as in training.

    python benchmarks/shards.py            # prints a table, writes benchmarks/results/shards.json
    python benchmarks/shards.py --quick    # a few seconds, for the tests
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import command, finish, machine, print_table, quick_out
from genie_lit.data import StreamingVideoDataModule, VideoDataModule, prepare_shards
from genie_lit.data.record import record_atari

RESULTS = Path(__file__).resolve().parent / "results" / "shards.json"


def time_loader(loader, batches: int, batch_size: int) -> dict:
    start = time.perf_counter()
    iterator, first_batch_s, clips, timed_from = iter(loader), None, 0, None
    while clips < batches * batch_size:
        try:
            batch = next(iterator)
        except StopIteration:  # another epoch
            iterator = iter(loader)
            continue
        if first_batch_s is None:  # worker start-up and the first batch are reported apart
            first_batch_s, timed_from = time.perf_counter() - start, time.perf_counter()
            continue
        clips += len(batch["video"])
    seconds = time.perf_counter() - timed_from
    del iterator
    return {"clips": clips, "seconds": seconds, "clips_per_s": clips / seconds, "first_batch_s": first_batch_s}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="a recorded folder (default: record one)")
    parser.add_argument("--games", default="boxing,pong,breakout")
    parser.add_argument("--episodes", type=int, default=4, help="episodes per game to record")
    parser.add_argument("--steps", type=int, default=300, help="steps per episode to record")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batches", type=int, default=60, help="timed batches per setting")
    parser.add_argument("--crf", type=int, default=23, help="the lossy variant's CRF")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (tests)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out = quick_out(args.out, args.quick)
    if args.quick:
        args.games, args.episodes, args.steps, args.batches, args.workers = "pong", 2, 60, 3, [0]
    clip_length, resolution, batch_size = 16, 64, 8
    record = {"command": command("shards.py", argv), "machine": machine(1),
              "setup": {"clip_length": clip_length, "resolution": resolution, "batch_size": batch_size,
                        "timed_batches": args.batches, "fps": 15}}
    results = {"storage": [], "loader": []}
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "atari"
            manifest = record_atari(data, args.games.split(","), episodes=args.episodes, steps=args.steps,
                                    val_episodes=1)
            record["setup"]["recorded"] = {"games": args.games.split(","), "episodes": len(manifest["episodes"]),
                                           "frames": sum(e["frames"] for e in manifest["episodes"])}
        shards = {}
        for name, crf in (("lossless", None), (f"crf {args.crf}", args.crf)):
            out = Path(tmp) / f"shards_{crf}"
            start = time.perf_counter()
            report = prepare_shards(data, out, clip_length, resolution, fps=15, crf=crf)
            seconds = time.perf_counter() - start
            shards[name] = out
            results["storage"].append({"shards": name, "clips": report.kept, "prepare_s": seconds,
                                       "prepare_clips_per_s": report.kept / seconds,
                                       "source_bytes": report.source_bytes, "shard_bytes": report.shard_bytes,
                                       "size_ratio": report.size_ratio})
        for workers in args.workers:
            folder = VideoDataModule(str(data), clip_length=clip_length, resolution=resolution, fps=15,
                                     batch_size=batch_size, num_workers=workers)
            folder.setup("fit")
            results["loader"].append({"source": "mp4 folder", "workers": workers,
                                      **time_loader(folder.train_dataloader(), args.batches, batch_size)})
            for name, out in shards.items():
                streamed = StreamingVideoDataModule(str(out), batch_size=batch_size, num_workers=workers)
                results["loader"].append({"source": f"shards ({name})", "workers": workers,
                                          **time_loader(streamed.train_dataloader(), args.batches, batch_size)})
    record["results"] = results
    print_table(["shards", "clips", "MB of video", "MB of shards", "size ratio", "prepare clips/s"],
                [[r["shards"], r["clips"], f"{r['source_bytes'] / 1e6:.2f}", f"{r['shard_bytes'] / 1e6:.2f}",
                  f"{r['size_ratio']:.2f}", f"{r['prepare_clips_per_s']:.1f}"] for r in results["storage"]])
    print()
    print_table(["source", "workers", "clips/s", "first batch s"],
                [[r["source"], r["workers"], f"{r['clips_per_s']:.1f}", f"{r['first_batch_s']:.2f}"]
                 for r in results["loader"]])
    finish(record, args.out)
    return record


if __name__ == "__main__":
    main()
