"""MaskGIT decoding at evaluation: steps and temperature against next-frame PSNR and Δ4PSNR.

The paper decodes with 25 MaskGIT steps at temperature 2 (Bruce et al., 2024, §3); genie_lit's
default is :data:`genie_lit.models.maskgit.MASKGIT_STEPS` steps at
:data:`~genie_lit.models.maskgit.MASKGIT_TEMPERATURE`. This scores one trained world (a
quickstart's ``world/checkpoints/last.ckpt``) on the held-out test clips that ``genie-lit
evaluate`` uses, for each setting: next-frame PSNR with the inferred action and with copying the
last frame, Δ4PSNR, and the time per generated frame (a ratio between settings of one run).

    python benchmarks/maskgit_settings.py --ckpt runs/qs/world/checkpoints/last.ckpt --data runs/qs/data

``--settings 8@1.0 8@0.7`` scores other settings (steps@temperature; the first is the time
reference). With several checkpoints (seeds) each figure is their mean, beside its std; e.g. the
three worlds over the 3e-3 tokenizer (``results/maskgit_settings_tok3e-3.json``):

    python benchmarks/maskgit_settings.py --ckpt S0 S1 S2 --data DIR --clips 32 --threads 1 \
        --settings 8@1.0 8@0.8 8@0.6 --out benchmarks/results/maskgit_settings_tok3e-3.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from common import RESULTS_DIR, command, finish, machine, mean_std, print_table

RESULTS = RESULTS_DIR / "maskgit_settings.json"
SETTINGS = [(4, 1.0), (8, 1.0), (8, 0.5), (8, 0.0), (25, 1.0), (25, 2.0)]


def setting(text: str) -> tuple[int, float]:
    """``"8@0.7"`` -> ``(8, 0.7)``."""
    steps, _, temperature = text.partition("@")
    try:
        return int(steps), float(temperature)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a setting is STEPS@TEMPERATURE, e.g. 8@1.0; got {text!r}") from None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", nargs="+", required=True, help="world checkpoint(s); figures are means over them")
    parser.add_argument("--data", nargs="+", required=True, help="their recordings (one, or one per checkpoint)")
    parser.add_argument("--settings", type=setting, nargs="+", default=SETTINGS,
                        help="MaskGIT steps@temperature to score (the first is the time reference)")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--split", default="test", help="held-out split scored (as genie-lit evaluate --split)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from genie_lit.evaluation.data import clip_batches, load_held_out, sample_clips
    from genie_lit.evaluation.fidelity import next_frame_metrics, rollout_metrics
    from genie_lit.models import Genie

    record = {"command": command("maskgit_settings.py", argv), "machine": machine(args.threads),
              "setup": {"checkpoints": args.ckpt, "data": args.data, "clips": args.clips, "split": args.split, "t": 4,
                        "settings": args.settings}, "results": []}
    for k, ckpt in enumerate(args.ckpt):
        data = args.data[k % len(args.data)]
        for steps, temperature in args.settings:
            world = Genie.from_checkpoint(ckpt, maskgit_steps=steps, temperature=temperature)
            held = load_held_out(data, args.split, world.image_size, None)
            clip_length = int(world.dynamics.context_frames) or 8
            batches = clip_batches(held.episodes, sample_clips(held.episodes, clip_length, args.clips), clip_length, 8)
            next_frame_metrics(world, batches[:1], args.seed)  # warm-up, untimed
            start = time.perf_counter()
            nf = next_frame_metrics(world, batches, args.seed)
            ro = rollout_metrics(world, batches, 4, args.seed)
            frames = sum(len(b[0]) for b in batches) * (2 + 2 * (clip_length - 1))  # generated frames
            record["results"].append({
                "ckpt": ckpt, "maskgit_steps": steps, "temperature": temperature,
                "next_frame_psnr": nf["psnr_dynamics_inferred"], "copy_psnr": nf["psnr_copy_previous"],
                "random_action_psnr": nf["psnr_dynamics_random"], "delta_psnr": ro["delta_psnr"],
                "seconds_per_frame": (time.perf_counter() - start) / frames})
    rows, summary = [], {}
    reference = "{}@{:g}".format(*args.settings[0])
    for steps, temperature in args.settings:
        mine = [r for r in record["results"] if (r["maskgit_steps"], r["temperature"]) == (steps, temperature)]
        mean = {key: sum(r[key] for r in mine) / len(mine) for key in
                ("next_frame_psnr", "copy_psnr", "random_action_psnr", "delta_psnr", "seconds_per_frame")}
        vs_copy, vs_copy_std = mean_std([r["next_frame_psnr"] - r["copy_psnr"] for r in mine])
        mean.update(vs_copy=vs_copy, vs_copy_std=vs_copy_std, delta_psnr_std=mean_std([r["delta_psnr"] for r in mine])[1],
                    checkpoints=len(mine))
        summary[f"{steps}@{temperature:g}"] = mean
        rows.append([steps, temperature, f"{mean['next_frame_psnr']:.2f}",
                     f"{mean['vs_copy']:+.2f} ± {mean['vs_copy_std']:.2f}",
                     f"{mean['delta_psnr']:.3f} ± {mean['delta_psnr_std']:.3f}",
                     f"{mean['seconds_per_frame'] / summary[reference]['seconds_per_frame']:.2f}"])
    record["summary"] = summary
    print_table(["MaskGIT steps", "temperature", "next-frame PSNR", "vs copy", "Δ4PSNR",
                 f"time per frame (÷ {reference})"], rows)
    finish(record, args.out)
    return record


if __name__ == "__main__":
    main()
