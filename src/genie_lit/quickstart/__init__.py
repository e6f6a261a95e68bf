"""``genie-lit quickstart --out DIR``: from nothing to a trained, evaluated, playable world.

Records a small multi-game Atari dataset (unless ``DIR/data`` has videos), trains the tokenizer and
then its decoder alone over the frozen codes, co-trains the latent action and dynamics models,
evaluates on held-out episodes against the recorded true actions, and writes ``DIR/report.md`` with
curves and rollouts per latent action.
The stages are in :mod:`genie_lit.quickstart.pipeline`, the report in
:mod:`genie_lit.quickstart.report`. A killed run continues where it stopped when run again.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from genie_lit.commands import new_parser, run_command
from genie_lit.data.atari import DEFAULT_GAMES
from genie_lit.quickstart.pipeline import (
    BUDGET_SHARES, DECODER_STEP_COST, DEFAULT_STEPS, STAGES, WORLD_STEP_COST, Clock, QuickstartError,
    QuickstartState, fit_args, has_videos, packaged_config, train_stage,
)

EPILOG = """stages: record -> tokenizer -> decoder (the tokenizer's decoder alone) -> world (LAM + dynamics) ->
evaluate -> report.
Run the same command again after a crash or Ctrl-C: finished stages are skipped and training resumes from
the stage's last checkpoint. On a GPU, scale up by adding YAML overlays, e.g.
  genie-lit quickstart --out runs/qs --world-steps 6000 --device cuda --world-config my_bigger_world.yaml
"""


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser(
        "quickstart", "Record Atari gameplay, train the Genie tokenizer, co-train latent actions and dynamics, "
        "evaluate on held-out episodes and write DIR/report.md (figures, curves, rollouts per action).", EPILOG,
        device=True)
    parser.add_argument("--out", required=True, type=Path, help="run folder (data, runs, eval and report go here)")
    parser.add_argument("--tokenizer-steps", type=int, default=DEFAULT_STEPS["tokenizer"],
                        help="optimizer steps of the tokenizer (%(default)s)")
    parser.add_argument("--decoder-steps", type=int, default=DEFAULT_STEPS["decoder"],
                        help="optimizer steps of the tokenizer's decoder alone over its frozen codes, after the "
                        "tokenizer (%(default)s; 0 skips the phase): the same tokens, sharper frames")
    parser.add_argument("--world-steps", type=int, default=DEFAULT_STEPS["world"],
                        help="optimizer steps of the world: latent actions + dynamics (%(default)s)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="optional time cap of the whole run in minutes (default: none; the steps define the "
                        f"run): {BUDGET_SHARES['tokenizer'] * 100:.0f}%% of it for the tokenizer, "
                        f"{BUDGET_SHARES['decoder'] * 100:.0f}%% for its decoder phase, "
                        f"{BUDGET_SHARES['world'] * 100:.0f}%% for the world. A capped run stops early and is not "
                        "the same world on every machine")
    data = parser.add_argument_group("recording (when DIR/data holds no video)")
    data.add_argument("--games", default=DEFAULT_GAMES, help=f"Atari games ({DEFAULT_GAMES}: the games whose actions "
                      "move the most of the frame; the earlier default was boxing,pong,breakout)")
    data.add_argument("--episodes", type=int, default=10, help="episodes per game, 1 val and 1 test among them (10)")
    data.add_argument("--steps", type=int, default=500, help="transitions per episode (500)")
    data.add_argument("--seed", type=int, default=0, help="seed of recording and training (0)")
    data.add_argument("--screen-delay", type=int, default=0, metavar="FRAMES",
                      help="emulator frames into the next decision at which each screen is taken "
                      "(`genie-lit record atari --screen-delay`; %(default)s)")
    scale = parser.add_argument_group("models and hardware")
    scale.add_argument("--tokenizer-config", action="append", default=[], metavar="YAML",
                       help="extra YAML layered on the tokenizer stage (repeatable)")
    scale.add_argument("--world-config", action="append", default=[], metavar="YAML",
                       help="extra YAML layered on the world stage (repeatable)")
    scale.add_argument("--accelerator", choices=("auto", "cpu", "gpu"),
                       help=argparse.SUPPRESS)  # the earlier name of --device (gpu = cuda); still accepted
    scale.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    scale.add_argument("--precision", choices=("auto", "bf16", "32"), default="auto",
                       help="the world stage's precision: bf16 (bf16-mixed autocast: about 1.6x faster steps on a "
                       "GPU or a CPU with native bf16, several times slower on a CPU without it), 32, or auto "
                       "(default: bf16 where it is native, else 32); the tokenizer trains in 32-bit")
    evaluation = parser.add_argument_group("evaluation")
    evaluation.add_argument("--eval-clips", type=int, default=32, help="held-out clips for the clip metrics (32)")
    evaluation.add_argument("--no-fvd", action="store_true", help="skip FVD (I3D is ~0.6 s per clip on a CPU)")
    evaluation.add_argument("--fvd-weights", help="local I3D weights file for standard FVD")
    evaluation.add_argument("--videos", type=int, default=1, help="held-out prompts per game for the report's "
                            "rollouts, one mp4 each with every latent action held (1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)

    def body(args: argparse.Namespace) -> int:
        if ((args.minutes is not None and args.minutes <= 0) or min(args.tokenizer_steps, args.world_steps) < 1
                or args.decoder_steps < 0
                or args.episodes < 3 or args.steps < 16 or args.eval_clips < 1 or args.videos < 0
                or not 0 <= args.screen_delay < 4):
            parser.error("--minutes must be > 0, --tokenizer-steps and --world-steps >= 1, --decoder-steps >= 0, "
                         "--episodes >= 3 (train, val, test), --steps >= 16, --eval-clips >= 1, --videos >= 0 and "
                         "--screen-delay in 0..3 (emulator frames of a decision's 4)")
        if args.accelerator is None:  # the trainer's accelerator: CPU runs get configs/trainer/cpu.yaml
            args.accelerator = {"cpu": "cpu", "auto": "auto"}.get(args.device, "gpu")
        import torch

        threads = torch.get_num_threads()
        if args.threads:
            torch.set_num_threads(args.threads)
        try:
            report = run(args, shlex.join(["genie-lit", "quickstart", *argv]))
        finally:
            torch.set_num_threads(threads)
        print(f"[quickstart] report: {report}")
        return 0

    return run_command(parser, body, argv, errors=lambda: (QuickstartError, FileNotFoundError),
                       on_interrupt=lambda args: f"interrupted: run the same command again to continue from {args.out}")


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 instructions that compute bf16 products natively


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bf16 natively: an x86 ``avx512_bf16`` or ``amx_bf16`` flag in Linux's
    ``/proc/cpuinfo``. oneDNN's own test (``torch.ops.mkldnn._is_mkldnn_bf16_supported``) also says yes
    on AVX-512 CPUs without them, where it emulates bf16 and autocast makes a world step several
    times slower. False where the flags cannot be read."""
    flags = set((cpuinfo_value("flags", cpuinfo) or "").split())
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def cpuinfo_value(key: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The first ``key : value`` of Linux's ``/proc/cpuinfo`` (``"flags"``, ``"model name"``), or
    None where it cannot be read."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def world_precision(requested: str, accelerator: str) -> tuple[str, str]:
    """The world stage's Lightning precision for ``--precision`` and why: ``auto`` is bf16-mixed on
    a GPU or a CPU with native bf16, 32-bit on other CPUs."""
    if requested == "bf16":
        return "bf16-mixed", "--precision bf16"
    if requested == "32":
        return "32-true", "--precision 32"
    if accelerator != "cpu":
        return "bf16-mixed", "auto: a GPU"
    if cpu_has_bf16():
        return "bf16-mixed", "auto: this CPU has native bf16"
    return "32-true", "auto: this CPU has no native bf16 (bf16 would be emulated, several times slower)"


def say(message: str) -> None:
    print(f"[quickstart] {message}", flush=True)


def run(args: argparse.Namespace, command: str) -> Path:
    import torch

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    state = QuickstartState.load(out)
    accelerator = args.accelerator
    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    precision, why = world_precision(args.precision, accelerator)
    for config in [*args.tokenizer_config, *args.world_config]:
        if not Path(config).is_file():
            raise QuickstartError(f"config {config} does not exist")
    steps = {"tokenizer": args.tokenizer_steps, "decoder": args.decoder_steps, "world": args.world_steps}
    state.settings.update(command=command, minutes=args.minutes, accelerator=accelerator, games=args.games,
                          episodes=args.episodes, steps=args.steps, seed=args.seed, training_steps=steps,
                          world_precision={"bf16-mixed": "bf16", "32-true": "32"}[precision])
    state.save()
    budget = None if args.minutes is None else args.minutes * 60
    say(f"plan: {steps['tokenizer']} tokenizer steps, "
        + (f"{steps['decoder']} of its decoder alone, " if steps["decoder"] else "")
        + f"then {steps['world']} world steps"
        + (f", capped at {args.minutes:g} min" if budget else "") + "; progress lines give the ETA")
    data_dir = out / "data"
    started = time.perf_counter()

    if not state.done("record"):
        interrupted_recording = bool(state.stages.get("record", {}).get("recording"))
        with Clock(state, "record") as clock:
            if has_videos(data_dir) and not interrupted_recording:
                say(f"using the videos already in {data_dir}")
                clock.extra["recorded"] = False
            else:
                from genie_lit.data.record import record_atari

                state.add_time("record", 0.0, False, recording=True)  # a killed recording is redone
                say(f"recording {args.episodes} episodes x {args.steps} steps of {args.games} into {data_dir}")
                record_atari(data_dir, [g for g in args.games.split(",") if g.strip()], episodes=args.episodes,
                             steps=args.steps, seed=args.seed, val_episodes=1, test_episodes=1, mode="overwrite",
                             progress=True, screen_delay=args.screen_delay)
                clock.extra.update(recorded=True, recording=False)
            clock.finished = True

    seed = ["--seed_everything", str(args.seed)]
    say(f"world precision: {precision} ({why})")
    if args.precision == "bf16" and accelerator == "cpu" and not cpu_has_bf16():
        say("warning: this CPU has no native bf16, so --precision bf16 may be slower than --precision 32")
    tokenizer_ckpt = out / "tokenizer" / "checkpoints" / "last.ckpt"
    # a world started without the decoder phase (--decoder-steps 0, or an earlier version) goes on over the
    # tokenizer it started with
    world_started = state.done("world") or (out / "world" / "checkpoints" / "last.ckpt").exists()
    decoder = steps["decoder"] > 0 and (state.done("decoder") or not world_started)
    stages = {
        "tokenizer": ([packaged_config("tokenizer", "st_vivit.yaml")],
                      [packaged_config("quickstart", "tokenizer.yaml"), *args.tokenizer_config], seed),
        "decoder": ([packaged_config("tokenizer", "st_vivit.yaml")],
                    [packaged_config("quickstart", "tokenizer.yaml"), packaged_config("tokenizer", "decoder.yaml"),
                     *args.tokenizer_config], [*seed, "--model.init_args.init_from", str(tokenizer_ckpt)]),
        "world": ([packaged_config("genie", "cotrain.yaml")],
                  [packaged_config("quickstart", "world.yaml"), *args.world_config],
                  [*seed, "--trainer.precision", precision, "--model.tokenizer_ckpt",
                   str(out / ("decoder" if decoder else "tokenizer") / "checkpoints" / "last.ckpt")]),
    }
    for stage, (component, extra, overrides) in stages.items():
        if state.done(stage):
            say(f"{stage}: done ({state.seconds(stage):.0f} s), skipped")
            continue
        if stage == "decoder" and not decoder:
            if steps["decoder"]:
                say("decoder: skipped: the world was started over the tokenizer without it")
            continue
        root = out / stage
        seconds = None if budget is None else BUDGET_SHARES[stage] * budget
        resumed = (root / "checkpoints" / "last.ckpt").exists()
        say(f"{stage}: training {steps[stage]} steps into {root}" + (" (resuming)" if resumed else "")
            + ("" if seconds is None else f", for at most {seconds / 60:.1f} min"))
        # the later stages' work in steps of this stage's pace, for the whole-run ETA
        after = 0.0
        if stage != "world" and not state.done("world"):
            later = WORLD_STEP_COST[precision] * steps["world"] + (DECODER_STEP_COST * steps["decoder"]
                                                                   if stage == "tokenizer" and decoder else 0.0)
            after = later / (DECODER_STEP_COST if stage == "decoder" else 1.0)
        with Clock(state, stage) as clock:
            summary = train_stage(fit_args(component, extra, data_dir, root, steps[stage], seconds, accelerator,
                                           overrides, label=f"quickstart {stage}", after_steps=after))
            if summary["interrupted"]:
                raise KeyboardInterrupt
            clock.extra.update(summary)
            clock.finished = True

    world_ckpt = out / "world" / "checkpoints" / "last.ckpt"
    if not state.done("evaluate"):
        from genie_lit.evaluation import evaluate_world, write_report

        say("evaluate: tokenizer, next frame, ΔtPSNR, FVD, latent actions vs true actions on held-out episodes")
        with Clock(state, "evaluate") as clock:
            device = "cuda" if accelerator == "gpu" else "cpu"
            results = evaluate_world(world_ckpt, data_dir, max_clips=args.eval_clips, fvd=not args.no_fvd,
                                     fvd_weights=args.fvd_weights, device=device, seed=args.seed)
            results["command"] = f"genie-lit evaluate --ckpt {world_ckpt} --data {data_dir}"
            write_report(results, out / "eval")
            clock.finished = True

    from genie_lit.quickstart.report import write_quickstart_report

    state.stages.pop("report", None)  # the report is rewritten on every call: count this call's time only
    with Clock(state, "report") as clock:
        report = write_quickstart_report(out, state, args.videos, args.seed)
        clock.finished = True
    say(f"all stages done in {sum(state.seconds(s) for s in STAGES):.0f} s in total "
        f"({time.perf_counter() - started:.0f} s in this call)")
    return report
