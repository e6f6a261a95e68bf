"""How much of the world's controllability do the latent actions lose? The oracle world.

The oracle world is the quickstart's world with its dynamics trained on the recorded *true*
actions instead of the latent ones: the same frozen tokenizer, data, dynamics architecture and
options (read from ``configs/genie/cotrain.yaml``), optimizer and optimizer steps, trained by
``genie-lit fit --config configs/dynamics/maskgit.yaml`` with ``data.actions: recorded``. Both
worlds are then scored by the same code on the same held-out test clips:

- next-frame PSNR (teacher forced, one MaskGIT step from the real frames ``x_1..x_{T-1}``) with
  the world's actions (latent actions inferred by its LAM; the true actions for the oracle),
  with a random action, and copying the last frame;
- Δ4PSNR: rollouts from ``x_1`` with those actions against random ones (the LAM world draws
  among its latent actions, the oracle among the true actions of the clip's game), common
  MaskGIT random numbers, as ``genie-lit evaluate`` does.

If even the oracle's Δ4PSNR is small, the games' actions move too few pixels at this resolution
for any world to be controllable by them; if the oracle is far above the LAM world, the latent
actions are the bottleneck.

    python benchmarks/oracle_world.py --data runs/qs/data --tokenizer runs/qs/tokenizer/checkpoints/last.ckpt \
        --world runs/qs/world/checkpoints/last.ckpt --steps 1000 --seeds 0      # -> results/oracle_world.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torchmetrics.image import PeakSignalNoiseRatio

from common import (CONFIGS, RESULTS_DIR, command, finish, machine, print_table, quick_out, read_config,
                    run_genie_lit, shrink)

RESULTS = RESULTS_DIR / "oracle_world.json"


def oracle_model_section(num_actions: int, quick: bool = False) -> dict:
    """The co-training config's dynamics model and optimizer, with ``num_actions`` true actions
    (``quick``: the tests' tiny sizes)."""
    cotrain = read_config(CONFIGS / "genie" / "cotrain.yaml")["model"]["init_args"]
    world = read_config(CONFIGS / "quickstart" / "world.yaml")["model"]["init_args"]
    section = cotrain["dynamics"]
    section["init_args"] = {**section["init_args"], "num_actions": num_actions,
                            "optimizer": cotrain["optimizer"], "scheduler": world["scheduler"]}
    return shrink(section) if quick else section


def train_oracle(args: argparse.Namespace, seed: int, root: Path, num_actions: int) -> Path:
    ckpt = root / "checkpoints" / "last.ckpt"
    if (root / "done").exists():
        return ckpt
    fit = ["fit", "--config", str(CONFIGS / "dynamics" / "maskgit.yaml"), "--config", str(CONFIGS / "trainer" / "cpu.yaml"),
           "--model", json.dumps(oracle_model_section(num_actions, args.quick)),
           "--data.data_dir", args.data, "--data.tokenizer_ckpt", args.tokenizer, "--data.actions", "recorded",
           "--data.batch_size", "8", "--data.cache_dir", str(root.parent / "token_cache"),
           "--trainer.default_root_dir", str(root), "--trainer.max_steps", str(args.steps),
           "--trainer.precision", args.precision,
           "--trainer.val_check_interval", str(args.steps), "--trainer.enable_progress_bar", "false",
           "--trainer.callbacks+=" + json.dumps({"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                                                  "init_args": {"save_last": True, "every_n_train_steps": 50}}),
           "--seed_everything", str(seed)]
    if ckpt.exists():
        fit += ["--ckpt_path", "last"]
    run_genie_lit(fit, args.threads, root / "log.txt")
    (root / "done").touch()
    return ckpt


@torch.no_grad()
def score(world, held, clips: list[tuple[int, int]], clip_length: int, oracle: bool, seed: int, t: int = 4) -> dict:
    """Next-frame PSNR (world's actions / random / copy) and Δ_t PSNR on ``clips``."""
    from genie_lit.evaluation.data import to_video
    from genie_lit.metrics import DeltaPSNR

    psnr = {k: PeakSignalNoiseRatio(data_range=1.0) for k in ("actions", "random", "copy")}
    delta = DeltaPSNR(t=t)
    valid = {g: np.unique(np.concatenate([e.actions[e.actions >= 0] for e in held.episodes if e.game == g]))
             for g in held.games}
    for k, (e, s) in enumerate(clips):
        episode = held.episodes[e]
        real = to_video(episode.frames[s:s + clip_length])[None]
        true = torch.from_numpy(episode.actions[s:s + clip_length - 1].copy())[None]
        generator = torch.Generator().manual_seed(seed * 1_000_003 + k)
        if oracle:
            actions = true
            choices = torch.from_numpy(valid[episode.game])
            chance = choices[torch.randint(0, len(choices), (1, clip_length - 1), generator=generator)]
        else:
            actions = world.infer_actions(real)
            chance = torch.randint(0, world.num_actions, (1, clip_length - 1), generator=generator)
        prompt_actions = actions[:, :-1] if oracle else None
        for name, last in (("actions", actions[:, -1]), ("random", chance[:, -1])):
            world.reset(real[:, :-1], seed=seed + k, actions=prompt_actions)
            psnr[name].update(world.step(last).clamp(0, 1), real[:, -1])
        psnr["copy"].update(real[:, -2], real[:, -1])
        rollouts = []
        for chosen in (actions, chance):
            first = world.reset(real[:, :1], seed=seed + k)
            rollouts.append(torch.cat((first[:, None], world.rollout(chosen)), dim=1).clamp(0, 1))
        delta.update(real, *rollouts)
    out = {f"next_frame_psnr_{k}": float(v.compute()) for k, v in psnr.items()}
    return {**out, **{k: float(v) for k, v in delta.compute().items()}, "clips": len(clips)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the quickstart's recording (with test episodes)")
    parser.add_argument("--tokenizer", required=True, help="the world's frozen tokenizer checkpoint")
    parser.add_argument("--world", nargs="+", required=True, help="LAM world checkpoint(s) to compare (one per seed)")
    parser.add_argument("--steps", type=int, default=1000, help="optimizer steps (the quickstart world's: 1000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--clips", type=int, default=32, help="held-out test clips (32, as the quickstart)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="bf16-mixed", help="as the quickstart's world stage (bf16-mixed)")
    parser.add_argument("--work", default="runs/oracle_world")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--wait-for", nargs="*", help="files to wait for before scoring (e.g. the quickstarts' "
                        "eval/eval.json), so the oracle trains while the LAM worlds still train")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny models (pass tiny --data/--tokenizer/"
                        "--world, e.g. those of world_levers.py --quick)")
    args = parser.parse_args(argv)
    args.out = quick_out(args.out, args.quick)
    torch.set_num_threads(args.threads)
    from genie_lit.evaluation.data import load_held_out, sample_clips
    from genie_lit.models import DynamicsModel, Genie
    from genie_lit.models.checkpoints import load_module

    record = {"command": command("oracle_world.py", argv), "machine": machine(args.threads),
              "setup": {"steps": args.steps, "seeds": args.seeds, "clips": args.clips, "data": args.data,
                        "tokenizer": args.tokenizer, "worlds": args.world, "split": "test", "t": 4,
                        "oracle_dynamics": oracle_model_section(0)}, "results": []}
    manifest = json.loads((Path(args.data) / "manifest.json").read_text())
    num_actions = max(len(g.get("action_names", [])) for g in manifest["games"].values())
    for k, seed in enumerate(args.seeds):
        oracle_ckpt = train_oracle(args, seed, Path(args.work) / f"seed{seed}", num_actions)
        while args.wait_for and not all(Path(p).exists() for p in args.wait_for):  # the LAM worlds still train
            time.sleep(30)
        lam_world = Genie.from_checkpoint(args.world[k % len(args.world)])
        clip_length = int(lam_world.dynamics.context_frames) or 8
        held = load_held_out(args.data, "test", lam_world.image_size, None)
        clips = sample_clips(held.episodes, clip_length, args.clips)
        dynamics = load_module(str(oracle_ckpt), DynamicsModel, "oracle dynamics").eval()
        oracle_world = Genie(lam_world.tokenizer, lam_world.lam, dynamics, context_length=lam_world.context_length,
                             maskgit_steps=lam_world.maskgit_steps, temperature=lam_world.temperature)
        run = {"seed": seed, "world": args.world[k % len(args.world)],
               "lam_world": score(lam_world, held, clips, clip_length, False, seed),
               "oracle_world": score(oracle_world, held, clips, clip_length, True, seed)}
        record["results"].append(run)
    rows = []
    for name in ("lam_world", "oracle_world"):
        values = {key: np.array([r[name][key] for r in record["results"]]) for key in record["results"][0][name]}
        record.setdefault("summary", {})[name] = {key: {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1
                                                        else 0.0} for key, v in values.items()}
        s = record["summary"][name]
        rows.append([name, len(record["results"]), f"{s['next_frame_psnr_actions']['mean']:.2f}",
                     f"{s['next_frame_psnr_random']['mean']:.2f}", f"{s['next_frame_psnr_copy']['mean']:.2f}",
                     f"{s['delta_psnr']['mean']:.3f} ± {s['delta_psnr']['std']:.3f}"])
    oracle = record["summary"]["oracle_world"]["delta_psnr"]["mean"]
    ratio = record["summary"]["lam_world"]["delta_psnr"]["mean"] / oracle if oracle > 0 else None
    record["summary"]["lam_over_oracle_delta_psnr"] = ratio
    print_table(["world", "seeds", "next-frame PSNR (its actions)", "random action", "copy last", "Δ4PSNR"], rows)
    print("LAM world's Δ4PSNR / oracle's: " + (f"{ratio:.2f}" if ratio is not None else "n/a (oracle's is not > 0)"))
    finish(record, args.out)
    return record


if __name__ == "__main__":
    main()
