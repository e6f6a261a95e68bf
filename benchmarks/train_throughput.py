"""Training throughput of each Genie component at the configs' sizes on this machine.

Builds the tokenizer (configs/tokenizer/st_vivit.yaml), the latent action model
(configs/lam/pixel.yaml), the dynamics model (configs/dynamics/maskgit.yaml) and the co-training
module (configs/genie/cotrain.yaml, over a random-weight tokenizer from st_vivit.yaml) from the
YAMLs' ``model`` sections, with the configs' optimizers and schedulers, and times plain training
steps on random clips of each config's ``clip_length`` and ``batch_size``: the module's loss (as
in its ``training_step``), backward, gradient clipping at 1.0 (the configs' ``gradient_clip_val``),
optimizer and scheduler step. Frames/s = batch x clip length / step time, median over the timed
steps; components and thread settings are timed interleaved, one step of each in turn. The LAM is
timed past its warm-up (``steps_trained = warmup_steps``), the vector-quantised phase that is most
of its training; the dynamics model gets random token ids and actions.

    python benchmarks/train_throughput.py            # table, benchmarks/results/train_throughput.json
    python benchmarks/train_throughput.py --threads 1 2 --steps 10 --warmup 2
    python benchmarks/train_throughput.py --threads 1 --precision 32 bf16   # bf16-mixed autocast vs fp32
    python benchmarks/train_throughput.py --quick    # smoke test, tiny models, ~15 s
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from common import (CONFIGS, RESULTS_DIR, build_model, command, finish, interleaved, machine, optimizers,
                    print_table, quick_out, read_config, shrink, summary, training_step)

RESULTS = RESULTS_DIR / "train_throughput.json"
COMPONENTS = {
    "tokenizer": CONFIGS / "tokenizer" / "st_vivit.yaml",
    "lam": CONFIGS / "lam" / "pixel.yaml",
    "dynamics": CONFIGS / "dynamics" / "maskgit.yaml",
    "cotrain": CONFIGS / "genie" / "cotrain.yaml",
}


def _model_section(path: Path, quick: bool) -> dict:
    section = read_config(path)["model"]
    return shrink(section) if quick else section


def _loss_fn(name: str, module: torch.nn.Module, batch: int, frames: int, quick: bool) -> Callable[[], torch.Tensor]:
    """A closure computing the component's training loss on fixed random inputs."""
    generator = torch.Generator().manual_seed(0)
    size = 64
    if name == "dynamics":
        h, w = module.grid
        tokens = torch.randint(0, module.vocab_size, (batch, frames, h, w), generator=generator)
        actions = torch.randint(0, module.num_actions, (batch, frames - 1), generator=generator)
        return lambda: module.compute(tokens, actions).loss
    if name == "lam":
        size = module.image_size[0]
    elif name == "cotrain":
        size = module.lam.image_size[0]
        tokenizer = build_model(_model_section(COMPONENTS["tokenizer"], quick))
        module.set_tokenizer(tokenizer)
    else:
        size = module.image_size[0]
    video = torch.rand(batch, frames, 3, size, size, generator=generator)
    if name == "tokenizer":
        def tokenizer_loss() -> torch.Tensor:
            recon, out = module(video)
            return F.mse_loss(recon, video) + out.loss
        return tokenizer_loss
    if name == "lam":
        module.steps_trained.fill_(module.warmup_steps)  # time the vector-quantised phase
        return lambda: module.compute(video).loss
    module.lam.steps_trained.fill_(module.lam.warmup_steps)
    return lambda: module.compute(video)["loss"]


class Trainer:
    """One component with its optimizer: ``__call__`` is one training step."""

    def __init__(self, name: str, quick: bool) -> None:
        config = read_config(COMPONENTS[name])
        data = config["data"]["init_args"]
        self.batch, self.frames = (2, 4) if quick else (data["batch_size"], data["clip_length"])
        torch.manual_seed(0)
        self.module = build_model(_model_section(COMPONENTS[name], quick)).train()
        self.clip = config.get("trainer", {}).get("gradient_clip_val")
        self.loss = _loss_fn(name, self.module, self.batch, self.frames, quick)  # installs cotrain's tokenizer
        self.optimizer, self.scheduler = optimizers(self.module)
        self.params = sum(p.numel() for p in self.module.parameters() if p.requires_grad)

    def __call__(self, precision: str = "32") -> None:
        training_step(self.module, self.loss, self.optimizer, self.scheduler, self.clip, precision == "bf16")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", nargs="+", choices=list(COMPONENTS), default=list(COMPONENTS))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread settings, interleaved")
    parser.add_argument("--precision", nargs="+", choices=("32", "bf16"), default=["32"],
                        help="32-bit, or bf16-mixed autocast as Lightning's precision='bf16-mixed' (interleaved)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per component and thread setting")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny models, batch 2 x 4 frames, 3 steps")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out = quick_out(args.out, args.quick)
    if args.quick:
        args.steps, args.warmup = 3, 1
    record = {"command": command("train_throughput.py", argv), "machine": machine(args.threads)}
    trainers = {name: Trainer(name, args.quick) for name in args.components}
    cases = {f"{name}@{threads}@{precision}": (lambda t=trainers[name], p=precision: t(p))
             for precision in args.precision for threads in args.threads for name in args.components}
    times = interleaved(cases, args.steps, args.warmup,
                        before=lambda case: torch.set_num_threads(int(case.split("@")[1])))
    results = []
    for case, seconds in times.items():
        name, threads, precision = case.split("@")
        t = trainers[name]
        stats = summary(seconds)
        results.append({"component": name, "config": str(COMPONENTS[name].relative_to(CONFIGS.parent)),
                        "threads": int(threads), "precision": precision, "batch": t.batch, "clip_length": t.frames,
                        "trainable_parameters": t.params, "step": stats,
                        "frames_per_s": t.batch * t.frames / stats["median_s"]})
    record["setup"] = {"steps": args.steps, "warmup": args.warmup, "quick": args.quick,
                       "statistic": "median of interleaved steps",
                       "frames_per_s": "batch x clip_length / median step time"}
    record["results"] = results
    rows = [[r["component"], r["threads"], r["precision"], f"{r['trainable_parameters'] / 1e6:.2f}M",
             f"{r['batch']}x{r['clip_length']}", f"{r['step']['median_s']:.3f}",
             f"{r['step']['min_s']:.3f}-{r['step']['max_s']:.3f}", f"{r['frames_per_s']:.0f}"] for r in results]
    print_table(["component", "threads", "precision", "trainable", "batch x frames", "step s (median)", "range s",
                 "frames/s"],
                rows)
    finish(record, args.out)
    return record


if __name__ == "__main__":
    main()
