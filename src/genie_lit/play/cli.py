"""``genie-lit play``: scripted rollouts to mp4, a browser page, or a random agent in GenieEnv.

Errors a user can fix (a prompt that is not an image or video, an action outside the range, a
checkpoint of the wrong kind, a setting that cannot be honoured) print one line and exit with
status 1; malformed arguments exit with status 2 (:mod:`genie_lit.commands`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from genie_lit.commands import new_parser, run_command

DTYPE_NAMES = ("float32", "bfloat16")  # the keys of genie_lit.play.world.DTYPES
DEFAULT_THREADS = 1  # measured: see genie_lit.play.world

EXAMPLES = """examples:
  # a photo (any size) becomes a world: 16 scripted steps to mp4, PNGs beside it
  genie-lit play --ckpt runs/genie/checkpoints/last.ckpt --prompt photo.jpg \\
      --actions 0,3,3,1,2*6,random:6 --out run.mp4 --png run_frames
  # play in the browser (prints the URL; keys: digits = action index, arrows/WASD, r = reset)
  genie-lit play --ckpt runs/genie/checkpoints/last.ckpt --prompt frame.png --serve --port 8000
  # a random agent collecting 3 episodes of 50 steps in GenieEnv (needs genie-lit[gym])
  genie-lit play --ckpt runs/genie/checkpoints/last.ckpt --random-agent --episodes 3 --max-episode-steps 50

actions: comma-separated indices 0..A-1; "K*N" repeats K N times; "random:N" draws N (seeded by --seed).
default key map (--serve): digit k -> action k; space 0; left/A 1; right/D 2; up/W 3; down/S 4;
  Q 5; E 6; Z 7; X 8; C 9 (only actions the world has); r resets. --keys left=3,space=0 replaces the letters.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser("play", "Play a trained Genie world: scripted rollouts, a browser page, or a Gymnasium agent.",
                        EXAMPLES, device=True)
    parser.add_argument("--ckpt", required=True, help="co-training checkpoint (genie-lit fit --config "
                        "configs/genie/cotrain.yaml writes runs/genie/checkpoints/last.ckpt)")
    parser.add_argument("--prompt", help="image (PNG, JPEG, BMP, GIF, WebP; any size) or video; default: a neutral "
                        "built-in frame")
    parser.add_argument("--prompt-frames", type=int, help="first frames of a video prompt to use "
                        "(default: half the world's context); an image is one frame")
    parser.add_argument("--seed", type=int, default=0, help="seed of the MaskGIT sampler (and of random:N)")
    mode = parser.add_argument_group("mode (scripted unless --serve or --random-agent)")
    mode.add_argument("--serve", action="store_true", help="serve the play page on --host:--port")
    mode.add_argument("--random-agent", action="store_true", help="run a random agent in GenieEnv")
    scripted = parser.add_argument_group("scripted rollout")
    scripted.add_argument("--actions", help="actions to take, e.g. 0,3,3,1 or 2*8 or random:32")
    scripted.add_argument("--out", help="output .mp4 (the action list goes to the same name .json)")
    scripted.add_argument("--png", metavar="DIR", help="also write every frame as DIR/frame_NNNN.png")
    shown = parser.add_argument_group("how frames are shown")
    shown.add_argument("--scale", type=int, default=4, help="nearest-neighbour upscaling of files and page (4)")
    shown.add_argument("--fps", type=float, default=10.0, help="frame rate stored in mp4 files (10: the paper's data)")
    shown.add_argument("--no-overlay", dest="overlay", action="store_false", help="do not draw actions on frames")
    shown.add_argument("--lossless", action="store_true", help="lossless RGB H.264 (few players open it)")
    serve = parser.add_argument_group("--serve")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (0: any free port; the URL is printed)")
    serve.add_argument("--keys", help="letter key map, e.g. left=3,right=5,space=0 (digits always map to themselves)")
    serve.add_argument("--verbose", action="store_true", help="log every request")
    agent = parser.add_argument_group("--random-agent")
    agent.add_argument("--episodes", type=int, default=1)
    agent.add_argument("--max-episode-steps", type=int, default=100)
    speed = parser.add_argument_group("speed (defaults measured on a 2-core CPU; see genie_lit.play.world)")
    speed.add_argument("--maskgit-steps", type=int, help="MaskGIT decoding steps per frame (default: "
                       "genie_lit.models.maskgit.MASKGIT_STEPS, as in evaluate and training; time per frame grows "
                       "with it: 4 keeps a 64x64 world above 10 frames/s on a 2-core CPU)")
    speed.add_argument("--temperature", type=float, help="MaskGIT sampling temperature (default: "
                       "genie_lit.models.maskgit.MASKGIT_TEMPERATURE)")
    speed.add_argument("--dtype", choices=DTYPE_NAMES, default="float32", help="bfloat16 autocast pays off on GPUs")
    speed.add_argument("--compile", action="store_true", help="torch.compile the dynamics and decoder")
    speed.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                       help=f"torch CPU threads ({DEFAULT_THREADS}; small frames gain little from more)")
    speed.add_argument("--context-length", type=int, help="frames the world remembers (default: its training clips)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    return run_command(parser, lambda args: _checked_run(parser, args), argv, errors=_errors)


def _errors() -> tuple[type[BaseException], ...]:
    from genie_lit.models.checkpoints import CheckpointError
    from genie_lit.play.prompt import PromptError
    from genie_lit.play.world import PlayError

    return CheckpointError, PromptError, PlayError, ValueError


def _checked_run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.serve and args.random_agent:
        parser.error("choose one mode: --serve or --random-agent (or neither for a scripted rollout)")
    if not (args.serve or args.random_agent) and not (args.actions and args.out):
        parser.error("a scripted rollout needs --actions LIST and --out run.mp4 (or use --serve / --random-agent)")
    if args.scale < 1 or args.fps <= 0 or (args.prompt_frames is not None and args.prompt_frames < 1):
        parser.error("--scale and --prompt-frames must be at least 1, --fps positive")
    if args.out and Path(args.out).suffix.lower() != ".mp4":
        parser.error(f"--out {args.out} must end in .mp4")
    import torch

    threads = torch.get_num_threads()
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)  # main() is also called in-process (tests, notebooks)


def _run(args: argparse.Namespace) -> int:
    from genie_lit.models.maskgit import MASKGIT_STEPS, MASKGIT_TEMPERATURE
    from genie_lit.play.prompt import default_prompt, load_prompt
    from genie_lit.play.world import describe, load_world

    if args.prompt is not None:  # a bad prompt is reported before the (slower) world loads
        load_prompt(args.prompt, 1)
    steps = MASKGIT_STEPS if args.maskgit_steps is None else args.maskgit_steps
    temperature = MASKGIT_TEMPERATURE if args.temperature is None else args.temperature
    world = load_world(args.ckpt, device=args.device, dtype=args.dtype, maskgit_steps=steps, temperature=temperature,
                       compile=args.compile, threads=args.threads, context_length=args.context_length)
    actions = None
    if not (args.serve or args.random_agent):
        from genie_lit.play.scripted import parse_actions

        actions = parse_actions(args.actions, world, seed=args.seed)
    frames = args.prompt_frames or max(1, world.context_length // 2)
    prompt = load_prompt(args.prompt, frames) if args.prompt else default_prompt(world.image_size, args.seed)
    if args.prompt is None:
        print("genie-lit play: no --prompt given, starting from a neutral built-in frame", file=sys.stderr)
    if args.serve:
        return _serve(args, world, prompt)
    if args.random_agent:
        return _random_agent(args, world, prompt)
    from genie_lit.play.scripted import run_rollout, write_rollout

    rollout = run_rollout(world, prompt, actions, seed=args.seed)
    meta = {"ckpt": str(args.ckpt), "prompt": args.prompt, "prompt_frames": len(prompt), "seed": args.seed,
            **describe(world)}
    written = write_rollout(rollout, args.out, args.png, scale=args.scale, overlay=args.overlay, fps=args.fps,
                            lossless=args.lossless, meta=meta)
    size = "x".join(str(s * args.scale) for s in world.image_size)
    print(f"wrote {written['video']} ({len(rollout.frames)} frames, {size}), actions in {written['actions']}"
          + (f", PNGs in {written['png_dir']}" if "png_dir" in written else "")
          + f"; generated {rollout.frames_per_second:.1f} frames/s")
    return 0


def _serve(args: argparse.Namespace, world, prompt) -> int:
    from genie_lit.play.world import PlayError
    from genie_lit.play.server import PlayServer
    from genie_lit.play.session import PlaySession, parse_keys

    session = PlaySession(world, prompt, seed=args.seed, scale=args.scale, fps=args.fps,
                          keys=parse_keys(args.keys, world))
    try:
        server = PlayServer(session, args.host, args.port, verbose=args.verbose)
    except OSError as err:
        raise PlayError(f"cannot listen on {args.host}:{args.port} ({err.strerror}); choose another --port, "
                        "or --port 0 for any free one") from err
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"genie-lit play: listening on {args.host}: other machines can play this world and download "
              "the session", file=sys.stderr)
    print(f"genie-lit play: serving {world.num_actions} actions at {server.url} (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def _random_agent(args: argparse.Namespace, world, prompt) -> int:
    from genie_lit.play.agent import run_random_agent
    from genie_lit.play.world import PlayError

    try:
        from genie_lit.play.env import GenieEnv
    except ModuleNotFoundError as err:
        raise PlayError(str(err)) from err
    env = GenieEnv(world, prompt=prompt, max_episode_steps=args.max_episode_steps)
    episodes = run_random_agent(env, args.episodes, seed=args.seed, keep_frames=args.out is not None)
    for index, episode in enumerate(episodes):
        print(json.dumps({"episode": index, "steps": episode.steps, "return": episode.episode_return,
                          "frames_per_second": round(episode.steps / episode.seconds, 2)}))
    if args.out:
        from genie_lit.play.scripted import Rollout, write_rollout

        first = episodes[0]
        rollout = Rollout(first.frames, [None, *first.actions], [])
        write_rollout(rollout, args.out, args.png, scale=args.scale, overlay=args.overlay, fps=args.fps,
                      lossless=args.lossless, meta={"ckpt": str(args.ckpt), "agent": "random", "seed": args.seed})
        print(f"wrote the first episode to {args.out}")
    return 0
