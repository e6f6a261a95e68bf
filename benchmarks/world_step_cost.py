"""Where the quickstart world stage's time goes: one co-training step taken apart.

Builds the quickstart world (``configs/genie/cotrain.yaml`` + ``configs/quickstart/world.yaml``)
over a random-weight quickstart tokenizer (``configs/tokenizer/st_vivit.yaml``), on random clips of
the configs' batch and clip length, and times, interleaved (one of each in turn), under bf16-mixed
autocast or in 32-bit (``--precision``, the two that the quickstart's ``--precision auto`` picks
between):

- ``step``: a co-training step as ``genie-lit fit`` takes it (the frozen tokenizer encodes the
  batch, LAM and dynamics losses, backward, clipping, optimizer and scheduler);
- ``step, tokens given``: the same step with the batch's tokens known, what caching the frozen
  tokenizer's tokens per clip would save at most;
- ``encode``: the frozen tokenizer's float32 encoding of the batch alone;
- ``LAM loss + backward``, ``dynamics loss + backward``: each model's share of the step;
- ``validation batch``: the co-training losses without gradients (one of ``limit_val_batches``);
- with ``--compile``, ``step, compiled blocks``: the step with every transformer block under
  ``torch.compile`` (inductor; what ``configs/trainer/compile.yaml`` does), on a second copy of
  the world; its compilation happens in the untimed warm-up calls;
- ``--profile``: after the timings, ``torch.profiler`` over ``--steps`` steps at the first thread
  setting: the share of the step's CPU time in each operator family (matrix products, attention,
  element-wise and copies, the rest), and the matrix products' arithmetic rate (GFLOP/s, counted by
  the profiler) beside the rate of one large matrix product on the same threads, which says
  whether a cheaper step is left to find without a smaller model.

    python benchmarks/world_step_cost.py                 # table, results/world_step_cost.json
    python benchmarks/world_step_cost.py --threads 1 2 --steps 10
    python benchmarks/world_step_cost.py --threads 2 --steps 6 --precision 32 --profile \
        --out benchmarks/results/world_step_cost_32.json
    python benchmarks/world_step_cost.py --quick         # smoke test, tiny models
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from common import (CONFIGS, RESULTS_DIR, build_model, command, finish, interleaved, machine, merge, optimizers,
                    print_table, quick_out, read_config, shrink, summary, training_step)
from genie_lit.nn.acceleration import compile_blocks

RESULTS = RESULTS_DIR / "world_step_cost.json"
WORLD = (CONFIGS / "genie" / "cotrain.yaml", CONFIGS / "quickstart" / "world.yaml")
TOKENIZER = CONFIGS / "tokenizer" / "st_vivit.yaml"


class World:
    """The quickstart world with its optimizer and one fixed random batch."""

    def __init__(self, quick: bool, bf16: bool = True) -> None:
        self.bf16 = bf16
        config = merge(read_config(WORLD[0]), read_config(WORLD[1]))
        data = config["data"]["init_args"]
        self.batch, self.frames = (2, 4) if quick else (data["batch_size"], data["clip_length"])
        self.clip = config["trainer"].get("gradient_clip_val")
        torch.manual_seed(0)
        model, tokenizer = config["model"], read_config(TOKENIZER)["model"]
        model["init_args"]["scheduler"]["init_args"]["total_steps"] = 2000  # the quickstart's --world-steps
        self.module = build_model(shrink(model) if quick else model).train()
        self.module.set_tokenizer(build_model(shrink(tokenizer) if quick else tokenizer))
        self.module.lam.steps_trained.fill_(self.module.lam.warmup_steps)  # the vector-quantised phase
        self.optimizer, self.scheduler = optimizers(self.module)
        size = self.module.lam.image_size[0]
        self.video = torch.rand(self.batch, self.frames, 3, size, size, generator=torch.Generator().manual_seed(0))
        self.tokens = self.module.encode(self.video)

    def step(self, tokens_given: bool = False) -> None:
        tokens = self.tokens if tokens_given else None
        training_step(self.module, lambda: self.module.compute(self.video, tokens=tokens)["loss"], self.optimizer,
                      self.scheduler, self.clip, bf16=self.bf16)

    def encode(self) -> None:
        self.module.encode(self.video)

    def lam(self) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.module.lam.compute(self.video).loss
        loss.backward()

    def dynamics(self) -> None:
        actions = torch.zeros(self.batch, self.frames - 1, dtype=torch.long)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.module.dynamics.compute(self.tokens, actions).loss
        loss.backward()

    def validation_batch(self) -> None:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            self.module.compute(self.video)


FAMILIES = {"matrix products": {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"},
            "attention": {"aten::_scaled_dot_product_flash_attention_for_cpu",
                          "aten::_scaled_dot_product_flash_attention_for_cpu_backward"},
            "element-wise and copies": {"aten::copy_", "aten::mul", "aten::mul_", "aten::add", "aten::add_",
                                        "aten::gelu", "aten::gelu_backward", "aten::cat", "aten::sum", "aten::sub",
                                        "aten::div", "aten::native_layer_norm", "aten::native_layer_norm_backward",
                                        "aten::fill_", "aten::neg", "aten::sqrt", "aten::pow", "aten::lerp_"}}


def profile_step(world: World, steps: int) -> dict:
    """The step's self CPU time by operator family, and the matrix products' GFLOP/s."""
    from torch.profiler import ProfilerActivity, profile

    world.step()
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        for _ in range(steps):
            world.step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    shares = {family: sum(e.self_cpu_time_total for e in events if e.key in names) / total
              for family, names in FAMILIES.items()}
    shares["the rest"] = 1.0 - sum(shares.values())
    matmul = [e for e in events if e.key in FAMILIES["matrix products"]]
    seconds = sum(e.self_cpu_time_total for e in matmul) / 1e6
    flops = sum(e.flops for e in matmul)
    return {"steps": steps, "shares": shares, "matmul_gflops": flops / steps / 1e9,
            "matmul_gflops_per_s": flops / 1e9 / seconds if seconds else 0.0,
            "reference_gflops_per_s": reference_rate()}


def reference_rate(size: int = 1024, calls: int = 20) -> float:
    """GFLOP/s of one large float32 matrix product, what this CPU sustains at the same thread setting:
    the ceiling the step's matrix products are read against."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    started = time.perf_counter()
    for _ in range(calls):
        a @ b
    return 2 * size**3 * calls / (time.perf_counter() - started) / 1e9


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread settings, interleaved")
    parser.add_argument("--steps", type=int, default=8, help="timed calls per case")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time the step with compiled blocks")
    parser.add_argument("--precision", choices=["bf16-mixed", "32"], default="bf16-mixed")
    parser.add_argument("--profile", action="store_true", help="also the step's CPU time by operator family")
    parser.add_argument("--quick", action="store_true", help="tiny models, batch 2 x 4 frames, 2 calls")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out = quick_out(args.out, args.quick)
    if args.quick:
        args.steps, args.warmup = 2, 1
    bf16 = args.precision == "bf16-mixed"
    world = World(args.quick, bf16)
    parts = {"step": world.step, "step, tokens given": lambda: world.step(True), "encode": world.encode,
             "LAM loss + backward": world.lam, "dynamics loss + backward": world.dynamics,
             "validation batch": world.validation_batch}
    if args.compile:
        compiled = World(args.quick, bf16)
        compile_blocks(compiled.module, backend="inductor")
        parts["step, compiled blocks"] = compiled.step
    cases = {f"{name}@{threads}": fn for threads in args.threads for name, fn in parts.items()}
    times = interleaved(cases, args.steps, args.warmup, before=lambda case: torch.set_num_threads(int(case.split("@")[1])))
    results = []
    for case, seconds in times.items():
        name, threads = case.split("@")
        step = summary(times[f"step@{threads}"])["median_s"]
        stats = summary(seconds)
        results.append({"case": name, "threads": int(threads), "seconds": stats,
                        "share_of_step": stats["median_s"] / step})
    record = {"command": command("world_step_cost.py", argv), "machine": machine(args.threads),
              "setup": {"world": [str(p.relative_to(CONFIGS.parent)) for p in WORLD],
                        "tokenizer": str(TOKENIZER.relative_to(CONFIGS.parent)), "batch": world.batch,
                        "clip_length": world.frames, "precision": args.precision, "steps": args.steps,
                        "warmup": args.warmup, "quick": args.quick, "compile": args.compile,
                        "statistic": "median of interleaved calls; share_of_step: against the full step "
                                     "at the same thread setting"},
              "results": results}
    print_table(["case", "threads", "median s", "range s", "share of a step"],
                [[r["case"], r["threads"], f"{r['seconds']['median_s']:.3f}",
                  f"{r['seconds']['min_s']:.3f}-{r['seconds']['max_s']:.3f}", f"{r['share_of_step']:.2f}"]
                 for r in results])
    if args.profile:
        torch.set_num_threads(args.threads[0])
        record["profile"] = profile_step(world, args.steps)
        print_table(["operators", "share of the step's CPU time"],
                    [[family, f"{share:.2f}"] for family, share in record["profile"]["shares"].items()])
        print(f"matrix products: {record['profile']['matmul_gflops_per_s']:.1f} GFLOP/s at {args.threads[0]} "
              f"thread(s), against {record['profile']['reference_gflops_per_s']:.1f} for one 1024 x 1024 product")
    finish(record, args.out)
    return record


if __name__ == "__main__":
    main()
