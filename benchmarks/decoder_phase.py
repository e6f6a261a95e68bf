"""What the quickstart's decoder phase buys: each world scored with and without it, paired.

``genie-lit quickstart`` trains the tokenizer (``DIR/tokenizer``), then its decoder alone over the
frozen codes (``DIR/decoder``, ``--decoder-steps``), then the world over that tokenizer
(``DIR/world``). The phase keeps every token, so the world's latent action and dynamics models are
the ones the first phase's tokenizer would have given, weight for weight (tested in
``tests/test_cotraining.py``); only the frames decoded from the tokens differ. So each run's world
is scored twice by ``genie-lit evaluate``'s code, on the same held-out test clips with the same
seed: as trained (the decoder phase inside) and with the first phase's tokenizer put back in its
checkpoint (what ``--decoder-steps 0`` trains). Figures are per run, their mean and std over runs,
and the paired differences.

    python benchmarks/quickstart_runs.py --seeds 0 1 --tokenizer-from DIR --name quickstart_decoder
    python benchmarks/decoder_phase.py --runs runs/quickstart_decoder/seed0 runs/quickstart_decoder/seed1 \\
        --parallel 2 --out benchmarks/results/decoder_phase.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from pathlib import Path

import torch

from common import RESULTS_DIR, command, finish, machine, mean_std, print_table

RESULTS = RESULTS_DIR / "decoder_phase.json"
FIGURES = ("tokenizer_psnr", "next_frame_psnr_inferred", "next_frame_psnr_copy", "next_frame_psnr_random",
           "delta_psnr", "rollout_recognisable_frames", "rollout_recognisable_share_last", "action_nmi",
           "few_shot_accuracy", "consistency")
ARMS = ("decoder_phase", "first_phase")


def first_phase_world(run: Path) -> Path:
    """``run``'s world checkpoint with the first phase's tokenizer in place of the decoder phase's
    (weights and configuration), written beside it as ``world/first_phase_tokenizer.ckpt``."""
    from genie_lit.models.checkpoints import read_checkpoint
    from genie_lit.models.cotraining import TOKENIZER_HPARAMS_KEY

    world = read_checkpoint(run / "world" / "checkpoints" / "last.ckpt", "world checkpoint")
    tokenizer = read_checkpoint(run / "tokenizer" / "checkpoints" / "last.ckpt", "first-phase tokenizer checkpoint")
    state = {k: v for k, v in world["state_dict"].items() if not k.startswith("tokenizer.")}
    state.update({f"tokenizer.{k}": v for k, v in tokenizer["state_dict"].items()})
    world["state_dict"] = state
    world[TOKENIZER_HPARAMS_KEY] = dict(tokenizer["hyper_parameters"])
    path = run / "world" / "first_phase_tokenizer.ckpt"
    torch.save(world, path)
    return path


def score(job: tuple[str, str, str, int, int]) -> dict:
    """``genie-lit evaluate``'s figures of one world checkpoint (no FVD) on the run's test clips."""
    arm, ckpt, data, seed, clips = job
    from genie_lit.evaluation import evaluate_world
    from genie_lit.quickstart.report import figures

    results = evaluate_world(ckpt, data, max_clips=clips, fvd=False, device="cpu", seed=seed)
    return {"arm": arm, "checkpoint": ckpt, **{k: figures(results)[k] for k in FIGURES}}


def difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", type=Path, required=True,
                        help="finished `genie-lit quickstart` folders with a decoder phase")
    parser.add_argument("--clips", type=int, default=32, help="held-out test clips (the quickstart's 32)")
    parser.add_argument("--parallel", type=int, default=1,
                        help="evaluations at once, one thread each (1: in this process, with its threads)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    jobs = []
    for run in args.runs:
        state = json.loads((run / "quickstart.json").read_text())
        if not state["stages"].get("decoder", {}).get("done") or not state["stages"].get("world", {}).get("done"):
            parser.error(f"{run} has no finished decoder phase and world: run `genie-lit quickstart` there first")
        seed, data = int(state["settings"]["seed"]), str(run / "data")
        jobs += [("decoder_phase", str(run / "world" / "checkpoints" / "last.ckpt"), data, seed, args.clips),
                 ("first_phase", str(first_phase_world(run)), data, seed, args.clips)]
    if args.parallel > 1:
        # one thread per evaluation process
        with multiprocessing.get_context("spawn").Pool(args.parallel, torch.set_num_threads, (1,)) as pool:
            scored = pool.map(score, jobs)
    else:
        scored = [score(job) for job in jobs]
    results = []
    for k, run in enumerate(args.runs):
        state = json.loads((run / "quickstart.json").read_text())
        arms = {row["arm"]: row for row in scored[2 * k:2 * k + 2]}
        results.append({"run": str(run), "seed": state["settings"]["seed"],
                        "decoder_steps": state["stages"]["decoder"].get("global_step"),
                        "decoder_seconds": state["stages"]["decoder"]["seconds"],
                        "tokenizer_seconds": state["stages"]["tokenizer"]["seconds"], **arms,
                        "difference": {f: difference(arms["decoder_phase"][f], arms["first_phase"][f])
                                       for f in FIGURES}})
    summary = {group: {f: mean_std([r[group][f] for r in results]) for f in FIGURES}
               for group in (*ARMS, "difference")}
    rows = [[f, *("n/a" if summary[g][f] is None else f"{summary[g][f][0]:.3f} ± {summary[g][f][1]:.3f}"
                  for g in (*ARMS, "difference"))] for f in FIGURES]
    print_table(["figure", "with the decoder phase", "first phase only", "paired difference"], rows)
    threads = 1 if args.parallel > 1 else torch.get_num_threads()
    record = {"command": command("decoder_phase.py", argv), "machine": machine(threads),
              "setup": {"runs": [str(r) for r in args.runs], "clips": args.clips, "split": "test", "fvd": False},
              "results": results, "summary": summary}
    finish(record, args.out)
    return record


if __name__ == "__main__":
    main()
