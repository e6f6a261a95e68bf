"""Parameters and estimated training memory per GPU of every scale preset in configs/scale/.

Each preset is built on PyTorch's meta device (shapes only, no memory) and its parameters counted.
Memory is an estimate, not a measurement (no GPU was used), for AdamW training under bf16-mixed
precision, the setting of configs/trainer/gpu.yaml:

- model states: 16 bytes per trainable parameter: float32 weights (4), float32 gradients (4) and
  AdamW's two float32 moments (8); autocast computes in bfloat16 but keeps float32 weights;
- activations, per sample of ``--frames`` frames of the preset's tokens: ``47 x tokens x width``
  bytes per ST block kept for the backward pass. 47 is Korthikanti et al. (2022)'s per-layer
  count of stored 16-bit activations (34 per attention + MLP layer: 11 attention, 19 MLP, 4 norms)
  with the ST block's second attention and norm added (+13), and without the attention-score term
  because ``scaled_dot_product_attention`` does not store the score matrix. With activation
  checkpointing only each block's float32 input stays (4 bytes per token and channel), plus one
  block's activations while it is recomputed;
- DDP: the model states whole on every GPU, plus activations;
- FSDP over N GPUs (FULL_SHARD, one unit per ST block): model states / N, plus activations, plus
  two gathered float32 blocks (the running unit and the prefetched next one).

GPUs needed: the fewest 80 GB GPUs whose per-GPU estimate stays under 90% of that memory, with
micro-batch 1 and activation checkpointing on when it is needed to fit (the table says which).
Framework overhead (CUDA context, allocator fragmentation, communication buffers) is not counted,
hence the 10% margin. Run::

    python benchmarks/scale_presets.py            # table, benchmarks/results/scale_presets.json
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from common import CONFIGS, RESULTS_DIR, build_model, command, finish, machine, print_table

RESULTS = RESULTS_DIR / "scale_presets.json"
SCALE = CONFIGS / "scale"
GPU_GB = 80.0
HEADROOM = 0.9
STATE_BYTES = 16  # float32 weight + gradient + two AdamW moments
ACTIVATION_BYTES = 47  # stored activation bytes per token and channel of one ST block (see the docstring)
CHECKPOINT_BYTES = 4  # a checkpointed block keeps its float32 input only
GB = 1e9


def nominal_size(path: Path) -> float:
    """The parameter count in a preset's file name: ``paper_dynamics_2_7b.yaml`` -> 2.7e9."""
    match = re.search(r"_(\d+(?:_\d+)?)([mb])\.yaml$", path.name)
    if match is None:
        raise ValueError(f"{path.name}: a scale preset's name ends with its size, e.g. _40m.yaml or _2_7b.yaml")
    return float(match.group(1).replace("_", ".")) * (1e6 if match.group(2) == "m" else 1e9)


FAMILIES = ("quickstart", "coinrun", "paper_dynamics", "paper")


def presets() -> list[Path]:
    """Every preset, by family (quickstart, CoinRun, the paper's dynamics series, its final layout), then size."""
    def key(path: Path) -> tuple[int, float]:
        family = next(i for i, name in enumerate(FAMILIES) if path.stem.startswith(name))
        final = path.stem in ("paper_dynamics_10b",)  # the final layout's dynamics, after its series
        return (len(FAMILIES) if final else family, nominal_size(path) if not final else 1e12)
    return sorted(SCALE.glob("*.yaml"), key=key)


def build_on_meta(path: Path) -> torch.nn.Module:
    """The preset's module with every tensor on the meta device (no memory is allocated)."""
    import yaml

    with torch.device("meta"):
        return build_model(yaml.safe_load(path.read_text()))


def backbone_shapes(module: torch.nn.Module) -> list[tuple[int, int, int]]:
    """``(width, blocks, parameters per block)`` of each backbone of ``module``."""
    from genie_lit.nn import VideoBackbone

    shapes = []
    for backbone in (m for m in module.modules() if isinstance(m, VideoBackbone)):
        per_block = sum(p.numel() for p in backbone.blocks[0].parameters())
        shapes.append((backbone.dim, len(backbone.blocks), per_block))
    return shapes


def tokens_per_frame(module: torch.nn.Module) -> int:
    grid = module.grid
    extra = 1 if getattr(module, "action_conditioning", "additive") == "prepend" else 0
    return grid[0] * grid[1] + extra


def estimate(module: torch.nn.Module, frames: int) -> dict:
    """Per-GPU memory estimates (GB) for training ``module`` with micro-batch 1 (module docstring)."""
    params = sum(p.numel() for p in module.parameters())
    tokens = frames * tokens_per_frame(module)
    shapes = backbone_shapes(module)
    full = sum(ACTIVATION_BYTES * tokens * width * depth for width, depth, _ in shapes) / GB
    kept = sum(CHECKPOINT_BYTES * tokens * width * depth for width, depth, _ in shapes) / GB
    recompute = max(ACTIVATION_BYTES * tokens * width for width, _, _ in shapes) / GB
    checkpointed = kept + recompute
    largest_block = max(per_block for _, _, per_block in shapes)
    states = STATE_BYTES * params / GB
    out = {"parameters": params, "tokens_per_sample": tokens, "model_states_gb": states,
           "activations_gb": full, "activations_checkpointed_gb": checkpointed,
           "ddp_gb": states + full, "ddp_checkpointed_gb": states + checkpointed}
    gathered = 2 * 4 * largest_block / GB
    budget = GPU_GB * HEADROOM
    for gpus in (1, 2, 4, 8, 16, 32, 64):
        for ckpt, acts in ((False, full), (True, checkpointed)):
            fsdp = states / gpus + acts + gathered
            if gpus == 1 and states + acts <= budget:  # fits one GPU without sharding: DDP
                out.update(gpus_needed=1, strategy="ddp", activation_checkpointing=ckpt, per_gpu_gb=states + acts)
                break
            if gpus > 1 and fsdp <= budget:
                out.update(gpus_needed=gpus, strategy="fsdp", activation_checkpointing=ckpt, per_gpu_gb=fsdp)
                break
        if "gpus_needed" in out:
            break
    for gpus in (2, 8):
        out[f"fsdp_{gpus}_gb"] = states / gpus + full + gathered
        out[f"fsdp_{gpus}_checkpointed_gb"] = states / gpus + checkpointed + gathered
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=16, help="frames per training sample (the paper's 16)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    record = {"command": command("scale_presets.py", argv), "machine": machine(1),
              "setup": {"frames": args.frames, "micro_batch": 1, "gpu_gb": GPU_GB, "headroom": HEADROOM,
                        "state_bytes_per_parameter": STATE_BYTES, "activation_bytes_per_token_channel":
                        ACTIVATION_BYTES, "precision": "bf16-mixed", "optimizer": "AdamW"},
              "results": []}
    rows = []
    for path in presets():
        module = build_on_meta(path)
        result = {"preset": path.stem, "nominal": nominal_size(path), **estimate(module, args.frames)}
        record["results"].append(result)
        ckpt = ", ckpt" if result["activation_checkpointing"] else ""
        needed = f"{result['gpus_needed']} ({result['strategy']}{ckpt})"
        rows.append([path.stem, f"{result['parameters'] / 1e6:,.1f}M", f"{result['ddp_gb']:.1f}",
                     f"{result['ddp_checkpointed_gb']:.1f}", f"{result['fsdp_8_gb']:.1f}",
                     f"{result['fsdp_8_checkpointed_gb']:.1f}", needed])
    print_table(["preset", "parameters", "DDP GB", "DDP+ckpt GB", "FSDP/8 GB", "FSDP/8+ckpt GB", "80 GB GPUs"], rows)
    finish(record, args.out)
    return record


if __name__ == "__main__":
    main()
