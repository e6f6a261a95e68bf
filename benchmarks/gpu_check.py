"""The GPU path, measured in one run that fits in 5 minutes on one GPU (``benchmarks/gpu_check.sh``).

Stages, each recorded in one JSON (``benchmarks/results/gpu_check.json``):

1. ``train``: training steps/s of the tokenizer, the latent action model and the dynamics model at
   the CoinRun size (``configs/scale/coinrun_*.yaml``), 32-bit vs bf16-mixed autocast, with peak
   GPU memory: loss, backward, AdamW step on random clips (random tokens for the dynamics);
2. ``play``: ``Genie.step`` frames/s with and without the temporal KV cache for
   ``benchmarks/play_fps.py``'s CoinRun-size world (its code, its JSON kept beside this one);
3. ``fsdp``: 20 training steps of the CoinRun-size dynamics model through Lightning's
   ``FSDPStrategy`` on one GPU, one FSDP unit per ST block (``genie_lit.nn.block_wrap_policy``),
   bf16-mixed, activation checkpointing on (``genie_lit.callbacks.Acceleration``): loss, steps/s,
   peak memory;
4. ``multi``: the same run with DDP and then FSDP on 2 GPUs, where two are present (skipped, and
   said so, with fewer).

``--dry-run`` runs every stage on the CPU at tiny size (FSDP through torch's CPU placement, the
2-process stage with gloo), to prove the script end to end without a GPU; its figures mean nothing.

    bash benchmarks/gpu_check.sh               # on a GPU machine: benchmarks/results/gpu_check.json
    bash benchmarks/gpu_check.sh --dry-run --out /tmp/gpu_check_dry.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from common import CONFIGS, RESULTS_DIR, build_model, command, finish, machine, print_table, shrink, synchronize

RESULTS = RESULTS_DIR / "gpu_check.json"
DISTRIBUTED_VARIABLES = {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK",
                         "LOCAL_WORLD_SIZE", "GLOBAL_RANK", "PL_GLOBAL_SEED"}
PRESETS = {"tokenizer": CONFIGS / "scale" / "coinrun_tokenizer_34m.yaml",
           "lam": CONFIGS / "scale" / "coinrun_lam_34m.yaml",
           "dynamics": CONFIGS / "scale" / "coinrun_dynamics_52m.yaml"}


# ------------------------------------------------------------------------------- helpers
def build(component: str, dry_run: bool) -> torch.nn.Module:
    section = yaml.safe_load(PRESETS[component].read_text())
    if dry_run:
        section = shrink(section)
        if component in ("tokenizer", "lam"):  # 16x16 frames: a tiny clip
            section["init_args"]["image_size"] = 16
            section["init_args"]["patch_size"] = 4
        else:
            section["init_args"]["grid"] = [4, 4]
    torch.manual_seed(0)
    return build_model(section)


def loss_fn(component: str, model: torch.nn.Module, batch: int, frames: int, device: torch.device):
    generator = torch.Generator().manual_seed(0)
    if component == "dynamics":
        tokens = torch.randint(0, model.vocab_size, (batch, frames, *model.grid), generator=generator).to(device)
        actions = torch.randint(0, model.num_actions, (batch, frames - 1), generator=generator).to(device)
        return lambda: model.compute(tokens, actions).loss
    video = torch.rand(batch, frames, 3, *model.image_size, generator=generator).to(device)
    if component == "lam":
        return lambda: model.compute(video).loss

    def tokenizer_loss():
        recon, out = model(video)
        return F.mse_loss(recon, video) + out.loss
    return tokenizer_loss


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mb(device: torch.device) -> float | None:
    """Peak GPU memory allocated since :func:`reset_peak`, MB (``None`` on the CPU)."""
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def max_rss_mb() -> float:
    """The process's peak resident memory so far, MB (on the CPU the only peak there is)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -------------------------------------------------------------------------------- stages
def time_training(model: torch.nn.Module, compute, precision: str, args: argparse.Namespace,
                  device: torch.device) -> tuple[float, float]:
    """(steps/s, last loss) of ``args.steps`` AdamW steps after ``args.warmup`` untimed ones."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = compute()
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(args.warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    synchronize(device)
    return args.steps / (time.perf_counter() - start), float(loss)


def stage_train(args: argparse.Namespace, device: torch.device) -> list[dict]:
    results = []
    for component in PRESETS:
        model = build(component, args.dry_run).to(device).train()
        compute = loss_fn(component, model, args.batch, args.frames, device)
        for precision in ("32", "bf16"):  # the same model: speed does not depend on the weights
            reset_peak(device)
            steps_per_s, loss = time_training(model, compute, precision, args, device)
            results.append({"component": component, "precision": precision, "steps": args.steps,
                            "batch": args.batch, "frames": args.frames, "steps_per_s": steps_per_s,
                            "loss": loss, "peak_memory_mb": peak_mb(device),
                            "parameters": sum(p.numel() for p in model.parameters())})
    by = {(r["component"], r["precision"]): r for r in results}
    for component in PRESETS:
        bf16, fp32 = by[(component, "bf16")], by[(component, "32")]
        bf16["speedup_vs_32"] = bf16["steps_per_s"] / fp32["steps_per_s"]
    return results


def stage_play(args: argparse.Namespace, device: torch.device, out: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    import play_fps

    reset_peak(device)
    argv = ["--worlds", "coinrun", "--device", str(device), "--out", str(out)]
    argv += ["--quick"] if args.dry_run else ["--contexts", "1", "8", "16", "--large-repeats", "3"]
    record = play_fps.main(argv)
    return {"json": str(out), "results": record["results"], "peak_memory_mb": peak_mb(device)}


class _CPUFSDPStrategy:
    """Lightning's FSDPStrategy with torch's FSDP placed on the CPU (``device_id=cpu``): the dry run
    only (Lightning itself refuses FSDP without a GPU)."""

    @staticmethod
    def make(**kwargs):
        from lightning.pytorch.strategies import FSDPStrategy

        class CPUFSDPStrategy(FSDPStrategy):
            def _setup_model(self, model):
                from lightning.pytorch.strategies.fsdp import _move_torchmetrics_to_device
                from torch.distributed.fsdp import FullyShardedDataParallel

                model = FullyShardedDataParallel(module=model, cpu_offload=self.cpu_offload,
                                                 mixed_precision=self.mixed_precision_config,
                                                 sharding_strategy=self.sharding_strategy,
                                                 device_id=torch.device("cpu"), **self.kwargs)
                _move_torchmetrics_to_device(model, self.root_device)
                return model

        return CPUFSDPStrategy(**kwargs)


def strategy(name: str, dry_run: bool):
    from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy

    from genie_lit.nn import block_wrap_policy

    if name == "ddp":
        return DDPStrategy(find_unused_parameters=True)
    kwargs = {"auto_wrap_policy": block_wrap_policy(), "sharding_strategy": "FULL_SHARD", "state_dict_type": "full",
              "use_orig_params": True}
    return _CPUFSDPStrategy.make(**kwargs) if dry_run else FSDPStrategy(**kwargs)


def fit(args: argparse.Namespace, strategy_name: str, devices: int) -> dict:
    """``args.fit_steps`` Lightning training steps of the CoinRun-size dynamics model."""
    import lightning as L
    from torch.utils.data import DataLoader

    from genie_lit.callbacks import Acceleration

    model = build("dynamics", args.dry_run)
    generator = torch.Generator().manual_seed(0)
    samples = [{"tokens": torch.randint(0, model.vocab_size, (args.frames, *model.grid), generator=generator),
                "actions": torch.randint(0, model.num_actions, (args.frames - 1,), generator=generator)}
               for _ in range(args.batch * 4)]
    accelerator = "cpu" if args.dry_run else "gpu"
    timer = _StepTimer()
    trainer = L.Trainer(accelerator=accelerator, devices=devices, strategy=strategy(strategy_name, args.dry_run),
                        precision="32-true" if args.dry_run else "bf16-mixed", max_steps=args.fit_steps,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[Acceleration(activation_checkpointing=True), timer])
    device = trainer.strategy.root_device
    reset_peak(device)
    trainer.fit(model, DataLoader(samples, batch_size=args.batch, shuffle=True))
    seconds = timer.seconds()
    if devices == 1 and torch.distributed.is_initialized():  # free the port for the 2-device stage
        torch.distributed.destroy_process_group()
    return {"strategy": strategy_name, "devices": devices, "steps": trainer.global_step,
            "loss": float(trainer.callback_metrics.get("train/loss", float("nan"))),
            "steps_per_s_after_first": (trainer.global_step - 1) / seconds if seconds else None,
            "peak_memory_mb": peak_mb(device), "process_max_rss_mb": max_rss_mb(),
            "activation_checkpointing": True, "rank": trainer.global_rank}


class _StepTimer:
    """Times the training steps after the first (which holds FSDP's and the allocator's warm-up)."""

    def __new__(cls):
        from lightning.pytorch.callbacks import Callback

        class StepTimer(Callback):
            def __init__(self):
                self.start = self.end = None

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                synchronize(trainer.strategy.root_device)
                now = time.perf_counter()
                if trainer.global_step == 1:
                    self.start = now
                self.end = now

            def seconds(self):
                return None if self.start is None or self.end == self.start else self.end - self.start

        return StepTimer()


def stage_multi(args: argparse.Namespace, out: Path) -> dict:
    """DDP then FSDP on 2 devices, in a child process that Lightning relaunches once per device."""
    available = 2 if args.dry_run else torch.cuda.device_count()
    if available < 2:
        return {"skipped": f"{available} GPU(s) visible; the 2-GPU runs need two"}
    child = [sys.executable, __file__, "--child-multi", str(out), *(["--dry-run"] if args.dry_run else []),
             "--fit-steps", str(args.fit_steps), "--batch", str(args.batch), "--frames", str(args.frames)]
    # without the rendezvous variables that Lightning set for the 1-device run in this process
    env = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_VARIABLES}
    if args.dry_run:
        env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(child, env=env, capture_output=True, text=True, timeout=args.multi_timeout)
    if done.returncode:
        return {"failed": f"exit {done.returncode}", "log_tail": (done.stdout + done.stderr)[-3000:]}
    return json.loads(out.read_text())


def child_multi(args: argparse.Namespace) -> None:
    results = [fit(args, name, 2) for name in ("ddp", "fsdp")]
    if results[0]["rank"] == 0:
        Path(args.child_multi).write_text(json.dumps({"runs": results}))


# ---------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="every stage at tiny size on the CPU")
    parser.add_argument("--stages", nargs="+", default=["train", "play", "fsdp", "multi"],
                        choices=["train", "play", "fsdp", "multi"])
    parser.add_argument("--batch", type=int, default=None, help="clips per step (8; dry run 2)")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (16; dry run 3)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per training case (20; dry run 2)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps per training case (3; dry run 1)")
    parser.add_argument("--fit-steps", type=int, default=None, 
                        help="Lightning steps of the FSDP / 2-GPU runs (20; dry run 4)")
    parser.add_argument("--multi-timeout", type=int, default=150, help="seconds for the 2-GPU stage")
    parser.add_argument("--out", type=Path, default=None, help=f"default {RESULTS} (dry run: gpu_check_dry_run.json)")
    parser.add_argument("--child-multi", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = {"batch": (8, 2), "frames": (16, 3), "steps": (20, 2), "warmup": (3, 1), "fit_steps": (20, 4)}
    for key, (gpu, dry) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, dry if args.dry_run else gpu)
    if args.child_multi:
        child_multi(args)
        return {}
    if not args.dry_run and not torch.cuda.is_available():
        parser.error("no CUDA GPU is visible; run with --dry-run to check the script on the CPU")
    out = args.out or (RESULTS_DIR / "gpu_check_dry_run.json" if args.dry_run else RESULTS)
    device = torch.device("cpu" if args.dry_run else "cuda")
    if args.dry_run:
        torch.set_num_threads(1)
    record = {"command": command("gpu_check.py", argv), "machine": machine(torch.get_num_threads(), str(device)),
              "setup": {"dry_run": args.dry_run, "batch": args.batch, "frames": args.frames, "steps": args.steps,
                        "warmup": args.warmup, "fit_steps": args.fit_steps,
                        "presets": sorted(str(p.relative_to(CONFIGS.parent)) for p in PRESETS.values()),
                        "gpus_visible": torch.cuda.device_count()},
              "stages": {}}
    started = time.perf_counter()
    for stage in args.stages:
        begin = time.perf_counter()
        if stage == "train":
            result = stage_train(args, device)
        elif stage == "play":
            result = stage_play(args, device, out.with_name(out.stem + "_play_fps.json"))
        elif stage == "fsdp":
            result = fit(args, "fsdp", 1)
        else:
            result = stage_multi(args, out.with_name(out.stem + "_multi.json"))
        record["stages"][stage] = {"seconds": time.perf_counter() - begin, "result": result}
        print(f"stage {stage}: {record['stages'][stage]['seconds']:.1f} s", flush=True)
    record["total_seconds"] = time.perf_counter() - started
    record["process_max_rss_mb"] = max_rss_mb()
    if "train" in record["stages"]:
        rows = [[r["component"], r["precision"], f"{r['steps_per_s']:.2f}",
                 "-" if r["peak_memory_mb"] is None else f"{r['peak_memory_mb']:.0f}"]
                for r in record["stages"]["train"]["result"]]
        print_table(["component", "precision", "steps/s", "peak MB"], rows)
    finish(record, out)
    return record


if __name__ == "__main__":
    main()
