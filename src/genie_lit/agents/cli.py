"""``genie-lit agent evaluate``: a behaviour-cloned policy in the real Atari game, beside random,
expert and (optionally) oracle policies (see :mod:`genie_lit.agents.evaluate`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genie_lit.commands import CommandError, add_common_flags, new_parser, resolve_device, run_command


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser("agent", "Agents trained from expert video (behaviour cloning on latent actions).", quiet=False)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    ev = actions.add_parser(
        "evaluate", help="play the real game with a trained policy; returns beside random, expert and oracle",
        description="Run a behaviour-cloned policy (genie-lit fit --config configs/agent/bc_latent.yaml) in the real "
        "Atari game. Its latent actions are mapped to real actions by a map fitted on --shots labelled transitions "
        "of its training episodes (stored beside the checkpoint as <ckpt>.action_map.json). Reports mean return "
        "± 95%% CI for the policy, the oracle (--oracle), a random policy and the scripted expert, and the "
        "normalised score (return - random) / (expert - random), and how often the policy's most likely action "
        "is the expert's on the expert's own trajectory (Pong, Breakout).",
        epilog="example: genie-lit agent evaluate --policy runs/bc_latent/checkpoints/last.ckpt --game pong "
        "--episodes 20 --oracle runs/bc_oracle/checkpoints/last.ckpt",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ev.set_defaults(subparser=ev)
    ev.add_argument("--policy", required=True,
                    help="policy checkpoint (configs/agent/bc_latent.yaml or bc_oracle.yaml)")
    ev.add_argument("--game", required=True, help="Atari game (pong, breakout)")
    ev.add_argument("--episodes", type=int, default=20, help="episodes per agent (seeds seed..seed+episodes-1)")
    ev.add_argument("--max-steps", type=int, default=1000, help="decisions per episode at most (frame skip 4)")
    ev.add_argument("--oracle", default=None, help="oracle policy checkpoint (labels: recorded) to compare")
    ev.add_argument("--shots", type=int, default=200, help="labelled transitions for the latent -> real action map")
    ev.add_argument("--data", default=None, help="expert recording for the map (default: the policy's training data)")
    ev.add_argument("--seed", type=int, default=0, help="first episode seed")
    ev.add_argument("--greedy", action="store_true",
                    help="the policy and the oracle take their most likely action at each decision instead of "
                         "drawing one from their distribution (with more than one episode, needs --epsilon)")
    ev.add_argument("--epsilon", type=float, default=0.0,
                    help="probability that a policy's decision is a uniformly random game action instead (0.05: the "
                         "evaluation of Mnih et al. 2015; the emulator is deterministic, so a greedy policy needs it "
                         "to play different episodes)")
    ev.add_argument("--no-baselines", action="store_true", help="skip the random and expert policies")
    ev.add_argument("--video", default=None, help="mp4 of the policy's first episode (default: beside --out)")
    ev.add_argument("--out", default=None, help="JSON report (default: <policy>.<game>.agent.json)")
    add_common_flags(ev, device=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), _run, argv, errors=_errors)


def _errors():
    from genie_lit.models.checkpoints import CheckpointError

    return (CheckpointError, FileNotFoundError)


def _run(args: argparse.Namespace) -> int:
    ev = args.subparser
    if args.episodes < 1 or args.max_steps < 1 or args.shots < 1:
        ev.error("--episodes, --max-steps and --shots must be >= 1")
    if not Path(args.policy).is_file():
        raise CommandError(f"policy checkpoint {args.policy} does not exist; train one with "
                           "genie-lit fit --config configs/agent/bc_latent.yaml")
    from genie_lit.agents.evaluate import evaluate_agent

    out = Path(args.out or f"{args.policy}.{args.game}.agent.json")
    video = args.video or out.with_suffix(".mp4")
    try:
        results = evaluate_agent(args.policy, args.game, args.episodes, args.max_steps, args.seed, args.oracle,
                                 args.shots, args.data, video, resolve_device(args.device),
                                 baselines=not args.no_baselines, greedy=args.greedy, epsilon=args.epsilon)
    except (ValueError, KeyError) as err:
        raise CommandError(str(err)) from err
    out.write_text(json.dumps(results, indent=1) + "\n")
    mode = "their most likely action" if args.greedy else "actions drawn from their distribution"
    noise = f", a random one with probability {args.epsilon:g}" if args.epsilon else ""
    print(f"{results['game']}: {args.episodes} episodes of at most {args.max_steps} decisions; policies play {mode}{noise}")
    print(f"{'agent':<8} {'return':>18} {'normalised':>11}")
    for name, entry in results["agents"].items():
        norm = entry.get("normalised")
        print(f"{name:<8} {entry['mean']:>9.2f} ± {entry['ci95']:<6.2f} {'' if norm is None else f'{norm:>11.2f}'}")
    agreement = results.get("expert_agreement")
    if agreement and agreement["decisions"]:
        shares = ", ".join(f"{name} {agreement[name]:.3f}" for name in ("policy", "oracle") if name in agreement)
        print(f"agrees with the expert on its own {agreement['decisions']} decisions: {shares} "
              f"(its most frequent action: {agreement['majority']:.3f})")
    print(f"report: {out}; video: {results.get('video')}")
    return 0
