"""Cost of the validation metrics on this machine, so a validation can be budgeted.

FVD (Unterthiner et al., 2018) costs one I3D pass (Carreira & Zisserman, 2017) per clip of 16 frames
resized to 224x224, plus one 400x400 Fréchet distance per compute; ΔtPSNR (Genie, Bruce et al.,
2024, §3) costs a PSNR per clip. The I3D cost does not depend on the weights, so the random I3D
stands in for the published one. The world model's two rollouts per clip that ΔtPSNR needs are not
counted here: they dominate in practice and are measured with the dynamics model.

    python benchmarks/metrics_cost.py                 # prints a table, writes benchmarks/results/metrics_cost.json
    python benchmarks/metrics_cost.py --batch 8 --val-clips 256
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

from genie_lit.metrics import DeltaPSNR, FrechetVideoDistance, I3DFeatureExtractor

RESULTS = Path(__file__).resolve().parent / "results" / "metrics_cost.json"


def _seconds(fn, repeats: int, warmup: int = 1) -> float:
    """Fastest of ``repeats`` timed calls: on a shared machine the minimum is the least disturbed."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


class _Passthrough(torch.nn.Module):
    """Features given directly (``b 1 1 1 400``), to time FVD's own statistics and compute."""

    num_features = 400

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        return videos.flatten(1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4, help="clips per I3D forward")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--height", type=int, default=90, help="input frame height (Genie's data: 90)")
    parser.add_argument("--width", type=int, default=160, help="input frame width (Genie's data: 160)")
    parser.add_argument("--val-clips", type=int, default=64, help="generated clips per validation")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    generator = torch.Generator().manual_seed(0)
    clips = torch.rand(args.batch, args.frames, 3, args.height, args.width, generator=generator)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        i3d = I3DFeatureExtractor(num_frames=args.frames)
    i3d_batch = _seconds(lambda: i3d(clips), args.repeats)

    fvd = FrechetVideoDistance(feature_extractor=_Passthrough(), compute_with_cache=False)
    features = torch.randn(2 * args.val_clips, 1, 1, 1, 400, generator=generator)
    fvd.update(features[: args.val_clips], real=True)
    fvd.update(features[args.val_clips:], real=False)
    fvd_compute = _seconds(fvd.compute, args.repeats)
    fvd_stats_per_clip = _seconds(lambda: fvd.update(features, real=False), args.repeats) / len(features)

    psnr_batch = 16
    real = torch.rand(psnr_batch, args.frames, 3, args.height, args.width, generator=generator)
    inferred, rand = real.flip(0), real.roll(1, dims=0)
    delta = DeltaPSNR(t=4)
    delta_per_clip = _seconds(lambda: delta.update(real, inferred, rand), args.repeats) / psnr_batch

    i3d_per_clip = i3d_batch / args.batch
    per_validation = args.val_clips * (i3d_per_clip + fvd_stats_per_clip) + fvd_compute
    results = {
        "i3d_seconds_per_clip": i3d_per_clip,
        "i3d_seconds_per_batch": i3d_batch,
        "fvd_update_statistics_seconds_per_clip": fvd_stats_per_clip,
        "fvd_compute_seconds": fvd_compute,
        "fvd_seconds_per_validation_generated_only": per_validation,
        "fvd_seconds_per_validation_with_real_set": per_validation + args.val_clips * i3d_per_clip,
        "delta_psnr_update_seconds_per_clip": delta_per_clip,
    }
    record = {
        "command": " ".join(["python benchmarks/metrics_cost.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"processor": platform.processor() or platform.machine(), "threads": args.threads,
                    "torch": torch.__version__, "device": "cpu"},
        "setup": {"batch": args.batch, "frames": args.frames, "input_hw": [args.height, args.width],
                  "i3d_input": [args.frames, 224, 224], "val_clips": args.val_clips, "repeats": args.repeats,
                  "statistic": "min over repeats"},
        "load_average_1min_before": load_before,
        "results": results,
    }
    rows = [
        ("I3D features, one 16x224x224 clip", i3d_per_clip, f"batch of {args.batch}"),
        ("FVD statistics update, per clip", fvd_stats_per_clip, "400-d, float64"),
        ("FVD compute (400x400 Fréchet)", fvd_compute, "once per validation"),
        (f"FVD per validation, {args.val_clips} generated clips", per_validation,
         "real statistics kept (reset_real_features=False)"),
        (f"FVD per validation, + {args.val_clips} real clips", results["fvd_seconds_per_validation_with_real_set"],
         "first validation, or reset_real_features=True"),
        ("ΔtPSNR update, per clip", delta_per_clip, "metric only; rollouts not included"),
    ]
    print("| measurement | seconds | note |\n|---|---:|---|")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.4g} | {note} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")
    return record


if __name__ == "__main__":
    main()
