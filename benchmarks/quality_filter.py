"""The data-quality filter on an Atari recording with junk mixed in: what it keeps, and (stage 2)
whether a tokenizer trained on the filtered shards beats one trained on the unfiltered shards.

Stage 1 (``--stage filter``, a few CPU-minutes):
  1. record Atari episodes (the recorder's validation episodes are the clean held-out set);
  2. mix in junk episodes made from them: black, static (one frozen frame), menu (a frozen frame
     with a blinking cursor) and scene cuts (two episodes spliced every few frames);
  3. ``genie-lit prepare --auto-labels`` (the bootstrap rules), ``genie-lit fit --config
     configs/quality/classifier.yaml`` on those labels;
  4. ``genie-lit prepare`` unfiltered and with ``--quality-ckpt --min-score``: clips kept, and the
     share of junk and of real play among them (the junk files are known by name).
Stage 2 (``--stage train``, adds ``2 x --train-steps`` tokenizer steps, about an hour on 2 CPU cores
at the default 1000): the quickstart tokenizer trained on each set of shards for the same steps,
validated on the same clean episodes; reports val/psnr and val/loss of each.

    python benchmarks/quality_filter.py --stage filter       # writes benchmarks/results/quality_filter.json
    python benchmarks/quality_filter.py --stage train        # both stages (long)
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from common import command, finish, machine, print_table, quick_out, run_genie_lit
from genie_lit.data.index import scan_folder
from genie_lit.data.record import record_atari
from genie_lit.media.read import read_frames
from genie_lit.media.write import VideoWriter

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "quality_filter.json"
JUNK_KINDS = ("black", "static", "menu", "cut")


def make_junk(data: Path, count: int, seed: int) -> list[str]:
    """``count`` junk episodes under ``data/junk/`` built from the training episodes; their relative paths."""
    rng = np.random.default_rng(seed)
    episodes = [v for v in scan_folder(data).videos if v.split == "train"]
    names = []
    for i in range(count):
        kind = JUNK_KINDS[i % len(JUNK_KINDS)]
        a, b = (episodes[k] for k in rng.choice(len(episodes), 2, replace=False))
        n = min(a.info.num_frames, b.info.num_frames)
        frames = read_frames(a.path, list(range(n)), None, fps=a.info.fps)
        if kind == "black":
            frames = rng.integers(0, 8, frames.shape, dtype=np.uint8)
        elif kind in ("static", "menu"):
            frames = np.repeat(frames[rng.integers(n)][None], n, axis=0)
            if kind == "menu":  # a blinking 2x2 cursor
                frames[::8, 4:6, 4:6] = 255
        else:  # scene cuts: switch episode every 6 frames
            other = read_frames(b.path, list(range(n)), None, fps=b.info.fps)
            frames = np.where((np.arange(n) // 6 % 2 == 1)[:, None, None, None], other, frames)
        rel = f"junk/{kind}{i:03d}.mp4"
        with VideoWriter(data / rel, fps=a.info.fps) as writer:
            for frame in frames:
                writer.write(frame)
        names.append(rel)
    return names


def composition(shards: Path, junk: set[str]) -> dict:
    """Clips of the training split that come from junk files and from real episodes."""
    from litdata import StreamingDataset

    if not (shards / "train" / "index.json").exists():  # every clip was dropped
        return {"clips": 0, "junk_clips": 0, "play_clips": 0}
    dataset = StreamingDataset(str(shards / "train"))
    sources = [dataset[i]["source"].split("#")[0] for i in range(len(dataset))]
    junk_clips = sum(s in junk for s in sources)
    return {"clips": len(sources), "junk_clips": junk_clips, "play_clips": len(sources) - junk_clips}


def last_metrics(root: Path) -> dict:
    rows = list(csv.DictReader(open(root / "metrics.csv")))
    values = {}
    for row in rows:
        values.update({k: float(v) for k, v in row.items() if v not in ("", None) and k.startswith("val/")})
    return values


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", choices=["filter", "train"], default="filter")
    parser.add_argument("--games", default="pong,breakout,boxing")
    parser.add_argument("--episodes", type=int, default=6, help="episodes per game (2 held out per game)")
    parser.add_argument("--steps", type=int, default=200, help="recorder steps per episode")
    parser.add_argument("--junk", type=int, default=8, help="junk episodes mixed in")
    parser.add_argument("--classifier-steps", type=int, default=300)
    parser.add_argument("--min-score", type=float, default=3.0)
    parser.add_argument("--train-steps", type=int, default=1000, help="tokenizer steps per run (stage train)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (tests)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the work folder here")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out = quick_out(args.out, args.quick)
    if args.quick:
        args.games, args.episodes, args.steps, args.junk, args.classifier_steps, args.train_steps = \
            "pong", 4, 48, 4, 4, 2
        args.min_score = 1.0  # every clip passes: the training stage runs too
    clip = ["--clip-length", "16", "--resolution", "64"]
    record = {"command": command("quality_filter.py", argv), "machine": machine(args.threads),
              "setup": {k: v for k, v in vars(args).items() if k not in ("out", "keep")}}
    work = Path(tempfile.mkdtemp(prefix="quality_filter_")) if args.keep is None else args.keep
    try:
        data, log = work / "atari", work / "log.txt"
        record_atari(data, args.games.split(","), episodes=args.episodes, steps=args.steps, val_episodes=2)
        junk = set(make_junk(data, args.junk, seed=0))
        labels = data / "quality_labels.csv"
        run_genie_lit(["prepare", "--data", str(data), *clip, "--auto-labels", str(labels)], args.threads, log)
        rows = list(csv.DictReader(open(labels)))
        auto = {"clips": len(rows), "junk_clips_scored_below_3": sum(
            r["clip"].split("#")[0] in junk and float(r["score"]) < 3 for r in rows),
            "junk_clips": sum(r["clip"].split("#")[0] in junk for r in rows),
            "play_clips_scored_below_3": sum(r["clip"].split("#")[0] not in junk and float(r["score"]) < 3
                                             for r in rows)}
        run_genie_lit(["fit", "--config", str(REPO / "configs" / "quality" / "classifier.yaml"),
                       "--data.data_dir", str(data), "--trainer.max_steps", str(args.classifier_steps),
                       "--trainer.default_root_dir", str(work / "quality"), "--trainer.enable_progress_bar", "false"],
                       args.threads, log)
        ckpt = work / "quality" / "checkpoints" / "last.ckpt"
        sets = {"unfiltered": [], "filtered": ["--quality-ckpt", str(ckpt), "--min-score", str(args.min_score)]}
        results = {"auto_labels": auto}
        for name, extra in sets.items():
            run_genie_lit(["prepare", "--data", str(data), "--out", str(work / name), *clip, "--val-fraction", "0",
                           "--device", "cpu", *extra], args.threads, log)
            results[name] = composition(work / name, junk)
        results["kept_fraction"] = results["filtered"]["clips"] / results["unfiltered"]["clips"]
        results["junk_removed_fraction"] = 1 - results["filtered"]["junk_clips"] / max(1, results["unfiltered"]["junk_clips"])
        results["play_kept_fraction"] = results["filtered"]["play_clips"] / max(1, results["unfiltered"]["play_clips"])
        if args.stage == "train" and results["filtered"]["clips"]:
            results["training"] = {}
            for name in sets:
                root = work / f"tokenizer_{name}"
                run_genie_lit(["fit", "--config", str(REPO / "configs" / "tokenizer" / "st_vivit.yaml"),
                               "--config", str(REPO / "configs" / "quickstart" / "tokenizer.yaml"),
                               "--data", "genie_lit.data.StreamingVideoDataModule", "--data.shards_dir",
                               str(work / name), "--trainer.max_steps", str(args.train_steps),
                               "--trainer.val_check_interval", str(min(100, args.train_steps)),
                               "--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false"],
                              args.threads, log)
                results["training"][name] = last_metrics(root)
        record["results"] = results
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print_table(["shards", "clips", "junk clips", "play clips"],
                [[n, results[n]["clips"], results[n]["junk_clips"], results[n]["play_clips"]] for n in sets])
    print(f"kept {results['kept_fraction']:.0%} of the clips; removed {results['junk_removed_fraction']:.0%} of the "
          f"junk, kept {results['play_kept_fraction']:.0%} of the play")
    for name, values in results.get("training", {}).items():
        print(f"tokenizer on {name}: " + json.dumps({k: round(v, 4) for k, v in values.items()}))
    finish(record, args.out)
    return record


if __name__ == "__main__":
    main()
