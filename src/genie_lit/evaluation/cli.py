"""``genie-lit evaluate --ckpt CKPT [--data DIR]``: the argument parser and the entry point."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from genie_lit.commands import new_parser, run_command


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser(
        "evaluate", "Evaluate a trained world (co-training checkpoint) or tokenizer on held-out episodes: "
        "tokenizer PSNR/SSIM, next-frame PSNR, ΔtPSNR and FVD of rollouts, latent actions against the recorded "
        "true actions (NMI, few-shot mapping accuracy) and action consistency, each beside its chance level. "
        "Writes eval.json and eval.md.", device=True)
    parser.add_argument("--ckpt", required=True, help="co-training (world) or tokenizer checkpoint from genie-lit fit")
    parser.add_argument("--data", help="folder of videos, e.g. a `genie-lit record atari` recording "
                        "(default: the folder the checkpoint was trained on)")
    parser.add_argument("--split", choices=("test", "val", "train"),
                        help="episodes to evaluate (default: test if the data have test episodes, else val)")
    parser.add_argument("--out", help="output folder (default: the run folder's eval/, next to checkpoints/)")
    parser.add_argument("--max-clips", type=int, default=64, help="held-out clips for the clip metrics (64)")
    parser.add_argument("--clip-length", type=int, help="frames per clip (default: the model's training clip length)")
    parser.add_argument("--maskgit-steps", type=int, help="MaskGIT steps per generated frame (default: "
                        "genie_lit.models.maskgit.MASKGIT_STEPS, as in play and training)")
    parser.add_argument("--temperature", type=float, help="MaskGIT sampling temperature (default: "
                        "genie_lit.models.maskgit.MASKGIT_TEMPERATURE)")
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling, random actions and draws (0)")
    parser.add_argument("--t", type=int, default=4, help="frame compared by ΔtPSNR, 1-based (paper: 4)")
    parser.add_argument("--horizon-frames", type=int, default=16, help="frames of the rollouts whose horizon is "
                        "scored frame by frame against the real clip and another scene of the game (16; 0: skip)")
    parser.add_argument("--fvd-weights", help="local I3D weights file; without it FVD is fvd_random_i3d "
                        "(not comparable to published FVD)")
    parser.add_argument("--no-fvd", action="store_true", help="skip FVD (I3D costs ~0.6 s per clip on 2 CPU cores)")
    parser.add_argument("--fvd-size", type=int, help="I3D input side (default: the standard 224, "
                        "genie_lit.metrics.STANDARD_I3D_SIZE; other sizes are labelled _<size>px)")
    parser.add_argument("--fvd-frames", type=int, default=16, help="frames per clip given to I3D (16)")
    parser.add_argument("--shots", type=int, default=200, help="labelled transitions of the few-shot map (200)")
    parser.add_argument("--few-shot-seeds", type=int, default=5, help="draws of the labelled transitions (5)")
    parser.add_argument("--permutations", type=int, default=5, help="permutations for NMI's chance level (5)")
    parser.add_argument("--prompts", type=int, default=8, help="prompt frames per game for action consistency (8)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips processed together (8)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    return parser


def default_out(ckpt: str) -> Path:
    """``run/checkpoints/x.ckpt`` -> ``run/eval``; a checkpoint elsewhere -> ``its folder/eval``."""
    folder = Path(ckpt).resolve().parent
    return (folder.parent if folder.name == "checkpoints" else folder) / "eval"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_command(parser, lambda args: _run(parser, args, argv), argv, errors=_errors)


def _errors() -> tuple[type[BaseException], ...]:
    from genie_lit.evaluation.data import EvaluationError
    from genie_lit.models.checkpoints import CheckpointError

    return CheckpointError, EvaluationError


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> int:
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    import torch

    from genie_lit.commands import resolve_device
    from genie_lit.evaluation.report import write_report
    from genie_lit.evaluation.runner import evaluate_world
    from genie_lit.metrics import STANDARD_I3D_SIZE
    from genie_lit.models.maskgit import MASKGIT_STEPS, MASKGIT_TEMPERATURE

    device = resolve_device(args.device)
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        results = evaluate_world(
            args.ckpt, args.data, args.split, max_clips=args.max_clips, clip_length=args.clip_length,
            maskgit_steps=MASKGIT_STEPS if args.maskgit_steps is None else args.maskgit_steps,
            temperature=MASKGIT_TEMPERATURE if args.temperature is None else args.temperature, seed=args.seed,
            t=args.t, horizon_frames=args.horizon_frames, fvd=not args.no_fvd, fvd_weights=args.fvd_weights, fvd_size=args.fvd_size or STANDARD_I3D_SIZE,
            fvd_frames=args.fvd_frames, shots=args.shots, few_shot_seeds=args.few_shot_seeds,
            permutations=args.permutations, prompts_per_game=args.prompts, batch_size=args.batch_size,
            device=str(device),
        )
    finally:
        torch.set_num_threads(threads)  # main() is also called in-process (tests, notebooks)
    results["command"] = shlex.join(["genie-lit", "evaluate", *argv])
    json_path, md_path = write_report(results, args.out or default_out(args.ckpt))
    print(summary(results))
    print(f"wrote {json_path} and {md_path}")
    return 0


def summary(r: dict) -> str:
    from genie_lit.evaluation.report import fmt

    tok = r["tokenizer"]
    lines = [f"{r['kind']} {r['checkpoint']} on {r['split']} ({r['held_out']['episodes']} episode(s))",
             f"  tokenizer PSNR {fmt(tok['psnr'], 2)} dB, SSIM {fmt(tok['ssim'])}"]
    if r["kind"] == "world":
        nf, ro, la, ac = r["next_frame"], r["rollouts"], r["latent_actions"]["mean"], r["action_consistency"]
        lines += [
            f"  next-frame PSNR {fmt(nf['psnr_dynamics_inferred'], 2)} dB (random action "
            f"{fmt(nf['psnr_dynamics_random'], 2)}, copy {fmt(nf['psnr_copy_previous'], 2)})",
            f"  Δ{ro['t']}PSNR {fmt(ro['delta_psnr'], 3)} dB" + (f", {ro['fvd_name']} {fmt(ro['fvd'], 1)}"
                                                              if "fvd" in ro else ""),
            f"  latent actions: NMI {fmt(la['nmi'])} (chance {fmt(la['nmi_chance'])}), few-shot accuracy "
            f"{fmt(la['few_shot_accuracy'])} (chance {fmt(la['few_shot_chance'])})",
            f"  action consistency {fmt(ac['consistency'])} (different actions {fmt(ac['baseline_across_actions'])})",
        ]
    return "\n".join(lines)
