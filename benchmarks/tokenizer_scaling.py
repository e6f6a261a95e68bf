"""Train-step time and peak memory of the three tokenizer variants as the clip grows.

Genie's ST-ViViT (spatial + causal temporal attention), the ViT ablation (spatial only) and the
C-ViViT ablation (full spacetime attention) are built as ``VideoTokenizer`` s of the same size
(default: the configs' sizes, 64x64 frames, patch 8, width 128, 2+2 blocks, 1024 codes) and given
clips of T = 8, 16, 32, 64 frames. The ST-transformer's cost grows linearly in T, full spacetime
attention's quadratically: the table ends with the ratio T=64 / T=16 per variant (linear = 4x).

- time: forward + backward + gradient clipping + AdamW step, warm-up steps, then the median of
  ``--repeats`` steps measured interleaved across all variants and lengths (one step of each in
  turn, round after round), so the machine's load hits them alike;
- peak memory (CPU): each (variant, T) runs in a fresh subprocess (two at a time) with glibc's
  mmap threshold at 64 KiB (freed tensors go back to the OS); after one warm-up step and
  ``zero_grad`` it reads the resident set (VmRSS), resets the high-water mark
  (``/proc/self/clear_refs`` = 5), runs one step and reports VmHWM - VmRSS: the memory one step
  adds (activations, gradients, temporaries) over weights and optimizer state. On CUDA:
  ``max_memory_allocated`` - ``memory_allocated``, in-process;
- attention FLOPs: QK^T and AV of one forward pass over all layers, 4 * (sequence length)^2 * width
  per sequence, without the causal mask's savings.

    python benchmarks/tokenizer_scaling.py          # table, benchmarks/results/tokenizer_scaling.json
    python benchmarks/tokenizer_scaling.py --frames 8 16 32 64 --batch 2 --repeats 5 --threads 1
    python benchmarks/tokenizer_scaling.py --quick  # smoke test, tiny models, ~20 s
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
import torch.nn.functional as F

from common import (RESULTS_DIR, build_model, command, finish, interleaved, machine, optimizers, print_table, quick_out,
                    summary)

RESULTS = RESULTS_DIR / "tokenizer_scaling.json"
VARIANTS = {"ST-ViViT": "STTransformer", "ViT": "SpatialTransformer", "C-ViViT": "SpacetimeTransformer"}


def tokenizer_config(backbone: str, args: argparse.Namespace) -> dict:
    """The model section of configs/tokenizer/*.yaml (they differ only in the backbone) at ``args``' sizes."""
    block = {"class_path": f"genie_lit.nn.{backbone}",
             "init_args": {"dim": args.dim, "depth": args.depth, "num_heads": args.heads}}
    return {"class_path": "genie_lit.models.VideoTokenizer", "init_args": {
        "image_size": args.image_size, "patch_size": args.patch_size, "encoder": block, "decoder": block,
        "quantizer": {"class_path": "genie_lit.nn.VectorQuantizer",
                      "init_args": {"codebook_size": args.codebook, "dim": 32, "commitment_weight": 0.25}},
        "optimizer": {"class_path": "torch.optim.AdamW",
                      "init_args": {"lr": 0.001, "betas": [0.9, 0.99], "weight_decay": 0.01}}}}


class TrainStep:
    """One optimisation step of the tokenizer as in its ``training_step`` (MSE + quantiser loss)."""

    def __init__(self, variant: str, frames: int, args: argparse.Namespace) -> None:
        torch.manual_seed(0)
        self.model = build_model(tokenizer_config(VARIANTS[variant], args)).to(args.device).train()
        self.optimizer, _ = optimizers(self.model)
        self.video = torch.rand(args.batch, frames, 3, args.image_size, args.image_size, device=args.device)

    def __call__(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        recon, out = self.model(self.video)
        (F.mse_loss(recon, self.video) + out.loss).backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)  # the configs' gradient_clip_val
        self.optimizer.step()


def attention_gflops(variant: str, frames: int, args: argparse.Namespace) -> float:
    """QK^T and AV FLOPs of one forward pass through encoder and decoder, in GFLOP."""
    n = (args.image_size // args.patch_size) ** 2
    per_layer = {"ViT": frames * n**2, "ST-ViViT": frames * n**2 + n * frames**2, "C-ViViT": (frames * n) ** 2}
    return 4 * args.batch * per_layer[variant] * args.dim * 2 * args.depth / 1e9


# --------------------------------------------------------------------------------- memory
def _proc_status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def step_memory(variant: str, frames: int, args: argparse.Namespace) -> dict:
    """Bytes one train step adds over the state it leaves behind (see the module docstring)."""
    step = TrainStep(variant, frames, args)
    step()
    step.optimizer.zero_grad(set_to_none=True)
    gc.collect()
    if torch.device(args.device).type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return {"peak_step_bytes": torch.cuda.max_memory_allocated() - before, "baseline_bytes": before,
                "method": "torch.cuda.max_memory_allocated - memory_allocated"}
    before = _proc_status("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the resident high-water mark (Linux)
    step()
    return {"peak_step_bytes": _proc_status("VmHWM") - before, "baseline_bytes": before,
            "method": "VmHWM - VmRSS in a fresh process, MALLOC_MMAP_THRESHOLD_=65536"}


def memory_in_subprocess(variant: str, frames: int, argv: list[str]) -> dict:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    result = subprocess.run([sys.executable, __file__, *argv, "--probe-memory", variant, str(frames)],
                            capture_output=True, text=True, env=env, check=False)
    if result.returncode:
        return {"peak_step_bytes": None, "error": result.stderr.strip().splitlines()[-1:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------- main
def parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--patch-size", type=int, default=8)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--depth", type=int, default=2, help="blocks in the encoder and in the decoder each")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--codebook", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per (variant, T), interleaved")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--quick", action="store_true", help="tiny models, T in {4, 16}, 2 repeats")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--probe-memory", nargs=2, metavar=("VARIANT", "T"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.out = quick_out(args.out, args.quick)
    if args.quick:
        args.frames, args.batch, args.dim, args.depth, args.heads = [4, 16], 1, 32, 1, 2
        args.codebook, args.repeats, args.warmup = 64, 2, 1
    # what a memory subprocess needs to rebuild the same model
    child = [f"--{k.replace('_', '-')}={getattr(args, k)}" for k in
             ("batch", "image_size", "patch_size", "dim", "depth", "heads", "codebook", "threads", "device")]
    return args, child


def main(argv: list[str] | None = None) -> dict:
    args, child_argv = parse(argv)
    torch.set_num_threads(args.threads)
    if args.probe_memory:
        variant, frames = args.probe_memory
        print(json.dumps(step_memory(variant, int(frames), args)))
        return {}
    record = {"command": command("tokenizer_scaling.py", argv), "machine": machine(args.threads, args.device)}
    keys = [(v, t) for t in args.frames for v in VARIANTS]
    steps = {f"{v} T={t}": TrainStep(v, t, args) for v, t in keys}
    times = interleaved(steps, args.repeats, args.warmup, args.device)
    params = {v: sum(p.numel() for p in steps[f"{v} T={args.frames[0]}"].model.parameters()) for v in VARIANTS}
    del steps
    gc.collect()
    results = []
    # one fresh process per (variant, T), two at a time: each reads its own high-water mark
    with ThreadPoolExecutor(max_workers=2) as pool:
        memories = list(pool.map(lambda key: {} if args.no_memory else memory_in_subprocess(*key, child_argv), keys))
    for (v, t), memory in zip(keys, memories):
        results.append({"variant": v, "frames": t, "step": summary(times[f"{v} T={t}"]),
                        "peak_step_bytes": memory.get("peak_step_bytes"), "memory": memory,
                        "attention_gflops_forward": attention_gflops(v, t, args)})
    record["setup"] = {"image_size": args.image_size, "patch_size": args.patch_size, "dim": args.dim,
                       "depth_encoder": args.depth, "depth_decoder": args.depth, "heads": args.heads,
                       "codebook": args.codebook, "batch": args.batch, "frames": args.frames,
                       "repeats": args.repeats, "warmup": args.warmup, "parameters": params,
                       "statistic": "median of interleaved steps", "quick": args.quick}
    record["results"] = results
    record["ratios"] = ratios(results, args.frames)
    report(record)
    finish(record, args.out)
    return record


def ratios(results: list[dict], frames: list[int]) -> dict:
    """Per variant: cost at the longest clip over cost at the clip 4x shorter (T=64 / T=16 by default)."""
    high = max(frames)
    low = high // 4 if high // 4 in frames else min(frames)
    by = {(r["variant"], r["frames"]): r for r in results}
    out = {}
    for v in VARIANTS:
        a, b = by[(v, high)], by[(v, low)]
        mem = (a["peak_step_bytes"] / b["peak_step_bytes"]) if a["peak_step_bytes"] and b["peak_step_bytes"] else None
        out[v] = {"frames": [high, low], "time": a["step"]["median_s"] / b["step"]["median_s"], "memory": mem,
                  "attention_flops": a["attention_gflops_forward"] / b["attention_gflops_forward"]}
    return out


def report(record: dict) -> None:
    rows = []
    for r in record["results"]:
        mem = r["peak_step_bytes"]
        rows.append([r["variant"], r["frames"], f"{r['step']['median_s'] * 1000:.0f}",
                     f"{r['step']['min_s'] * 1000:.0f}-{r['step']['max_s'] * 1000:.0f}",
                     "-" if mem is None else f"{mem / 2**20:.0f}", f"{r['attention_gflops_forward']:.2f}"])
    print_table(["variant", "T", "step ms (median)", "range ms", "peak step MiB", "attention GFLOP (fwd)"], rows)
    print()
    rows = []
    for v, r in record["ratios"].items():
        rows.append([v, f"{r['time']:.2f}x", "-" if r["memory"] is None else f"{r['memory']:.2f}x",
                     f"{r['attention_flops']:.1f}x"])
    high, low = next(iter(record["ratios"].values()))["frames"]
    print_table(["variant", f"time T={high}/T={low}", f"memory T={high}/T={low}", "attention FLOPs"], rows)


if __name__ == "__main__":
    main()
