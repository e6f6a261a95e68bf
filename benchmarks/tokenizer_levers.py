"""Tokenizer levers, screened at the quickstart's settings: what raises its reconstruction PSNR.

Each variant is the quickstart's tokenizer stage (``configs/tokenizer/st_vivit.yaml`` +
``configs/quickstart/tokenizer.yaml``, trained by ``genie-lit fit`` exactly as ``genie-lit
quickstart`` trains it, for ``--steps`` optimizer steps on a ``genie-lit quickstart`` recording,
``--data``) plus a few command-line overrides. It is then scored as ``genie-lit evaluate`` scores a
world's tokenizer: PSNR and SSIM of the reconstructions of ``--clips`` held-out test clips of 8
frames, and the share of the codebook they use. Budgets are steps; figures are means (and std)
over ``--seeds``. Each finished run is kept under ``--work``, so a killed screen resumes.

    python benchmarks/tokenizer_levers.py --data runs/quickstart/data --steps 2000 --seeds 0 \\
        --parallel 2 --threads 1 --variants quickstart code_dim8 lr2e-3   # -> results/tokenizer_levers.json
    python benchmarks/tokenizer_levers.py --quick                       # smoke test: tiny models, seconds
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path

from common import RESULTS_DIR, command, finish, machine, mean_std, print_table, quick_out, run_genie_lit, run_key

RESULTS = RESULTS_DIR / "tokenizer_levers.json"
# variant -> `genie-lit fit` overrides on top of the quickstart's tokenizer stage
VARIANTS: dict[str, list[str]] = {
    "quickstart": [],
    # 8-dimensional codes instead of 32 (ViT-VQGAN, Yu et al., 2022: a low-dimensional l2-normalised
    # lookup uses more of the codebook and reconstructs better)
    "code_dim8": ["--model.init_args.quantizer.init_args.dim", "8"],
    "lr2e-3": ["--model.init_args.optimizer.init_args.lr", "0.002"],  # twice the learning rate
    "lr3e-3": ["--model.init_args.optimizer.init_args.lr", "0.003"],  # three times
    # dead codes restarted after 20 unused steps instead of 100
    "restart20": ["--model.init_args.quantizer.init_args.restart_after_steps", "20"],
    # a decoder of 4 blocks instead of 2 (the encoder unchanged, so the codes' cost for the world is too)
    "decoder_depth4": ["--model.init_args.decoder.init_args.depth", "4"],
}
CONFIGS = (("tokenizer", "st_vivit.yaml"), ("quickstart", "tokenizer.yaml"))  # the base and its overlay
CLIP, BATCH = 8, 8  # the quickstart evaluation's clips and batch
TINY = ["--model.init_args.encoder.init_args.dim", "32", "--model.init_args.encoder.init_args.depth", "1",
        "--model.init_args.decoder.init_args.dim", "32", "--model.init_args.decoder.init_args.depth", "1",
        "--model.init_args.quantizer.init_args.codebook_size", "64", "--data.batch_size", "2",
        "--data.clip_length", "4", "--data.num_workers", "0", "--trainer.limit_val_batches", "1",
        "--trainer.val_check_interval", "2"]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def run_once(variant: str, seed: int, data: str, steps: int, clips: int, threads: int, quick: bool,
             work: str) -> dict:
    """Train one variant and score it; the record is read back from ``work`` when it finished before."""
    from genie_lit.quickstart.pipeline import fit_args, packaged_config

    # another recording, default config value, setting or variant override is another run
    key = run_key(data, tuple(packaged_config(*c) for c in CONFIGS), quick, clips, VARIANTS[variant])
    root = Path(work) / f"{variant}_seed{seed}_{steps}_{key}"
    done = root / "record.json"
    if done.exists():
        return json.loads(done.read_text())
    overrides = ["--seed_everything", str(seed), *QUIET, *(TINY if quick else []), *VARIANTS[variant]]
    args = fit_args([packaged_config(*CONFIGS[0])], [packaged_config(*CONFIGS[1])],
                    Path(data), root, steps, None, "cpu", overrides, label=f"tokenizer_levers {variant} seed {seed}")
    started = time.perf_counter()
    run_genie_lit(args, threads, root / "log.txt")
    seconds = time.perf_counter() - started
    # seconds_per_step: the whole fit (start-up and validations included) over its steps
    record = {"variant": variant, "seed": seed, "steps": steps, "seconds_per_step": seconds / steps,
              **score(root / "checkpoints" / "last.ckpt", data, clips, quick)}
    done.write_text(json.dumps(record) + "\n")
    print(f"[tokenizer_levers] {variant} seed {seed}: PSNR {record['psnr']:.2f} dB", flush=True)
    return record


def score(ckpt: Path, data: str, clips: int, quick: bool) -> dict:
    """The tokenizer's PSNR, SSIM and codebook usage on held-out test clips, as ``genie-lit evaluate``."""
    import torch

    from genie_lit.evaluation.data import clip_batches, load_held_out, sample_clips
    from genie_lit.evaluation.fidelity import tokenizer_metrics
    from genie_lit.models import VideoTokenizer
    from genie_lit.models.checkpoints import load_module

    tokenizer = load_module(str(ckpt), VideoTokenizer, "tokenizer checkpoint").eval()
    held = load_held_out(data, None, tuple(tokenizer.image_size), None)
    clip = 4 if quick else CLIP
    chosen = sample_clips(held.episodes, clip, clips)
    return tokenizer_metrics(tokenizer, clip_batches(held.episodes, chosen, clip, BATCH), torch.device("cpu"))


def _run(job: tuple) -> dict:
    return run_once(*job)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="a `genie-lit quickstart` recording (with test episodes)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=2000, help="optimizer steps (the quickstart's 2,000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--clips", type=int, default=32, help="held-out test clips (the quickstart's 32)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    parser.add_argument("--parallel", type=int, default=1, help="runs at once, one process each")
    parser.add_argument("--work", default="runs/tokenizer_levers", help="folder for the runs")
    parser.add_argument("--quick", action="store_true", help="tiny models, 4 steps: the smoke test")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    out = quick_out(args.out, args.quick)
    if args.quick:
        from lam_levers import make_quick_data

        args.data = str(make_quick_data(Path(args.work) / "quick_data"))
        args.steps, args.clips, args.seeds = 4, 2, [0]
    if not args.data:
        parser.error("--data is required (a folder recorded by `genie-lit quickstart` or `genie-lit record atari`)")
    jobs = [(v, s, args.data, args.steps, args.clips, args.threads, args.quick, args.work)
            for v in args.variants for s in args.seeds]
    if args.parallel > 1:
        with multiprocessing.get_context("spawn").Pool(args.parallel) as pool:
            results = pool.map(_run, jobs)
    else:
        results = [_run(job) for job in jobs]
    summary = {}
    for variant in args.variants:
        runs = [r for r in results if r["variant"] == variant]
        summary[variant] = {key: mean_std([r[key] for r in runs])
                            for key in ("psnr", "ssim", "codebook_usage", "seconds_per_step")}
    rows = [[v, f"{s['psnr'][0]:.2f} ± {s['psnr'][1]:.2f}", f"{s['ssim'][0]:.3f}", f"{s['codebook_usage'][0]:.3f}",
             f"{s['seconds_per_step'][0]:.2f}"] for v, s in summary.items()]
    print_table(["variant", "PSNR dB", "SSIM", "codebook used", "s/step"], rows)
    record = {"command": command("tokenizer_levers.py", argv), "machine": machine(args.threads),
              "setup": {"steps": args.steps, "seeds": args.seeds, "clips": args.clips, "data": args.data,
                        "variants": {v: VARIANTS[v] for v in args.variants}},
              "results": results, "summary": summary}
    finish(record, out)
    return record


if __name__ == "__main__":
    main()
