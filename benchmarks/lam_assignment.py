"""Do latent actions mean something? The LAM's code assignment against the recorded true actions.

Trains the latent action model of ``configs/lam/pixel.yaml`` for the same wall-clock budget in
each variant, on the training episodes of a recording made by ``genie-lit record atari`` (made
here when ``--data`` has none), then scores the latent actions of the held-out (val) episodes
against the true actions with ``genie-lit evaluate``'s measures (NMI beside its permutation
chance level, 200-shot mapping accuracy beside its majority chance level), per game and averaged:

- ``nearest``: the classic VQ-VAE LAM (nearest code, continuous warm-up, k-means seeding,
  change-weighted loss), as the config was before ``assignment`` existed;
- ``search``: hard-EM assignment (the config's setting);
- ``oracle``: the same encoder trained as a *supervised* inverse-dynamics classifier of the true
  action (index modulo the codebook size): what an encoder can read from the pixels in this
  budget, an upper bound for any LAM, not a LAM.

Variants run one after the other (``--parallel`` runs them at once, one thread each).

    python benchmarks/lam_assignment.py --minutes 8 --parallel   # table, results/lam_assignment.json
    python benchmarks/lam_assignment.py --quick                  # smoke test: tiny models, seconds
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common import (CONFIGS, RESULTS_DIR, build_model, command, finish, game_scores, machine, print_table, quick_out,
                    read_config, shrink)

RESULTS = RESULTS_DIR / "lam_assignment.json"
VARIANTS = {
    "nearest": {"assignment": "nearest", "change_weight": 10.0},
    "search": {},
    "oracle": {},
}


def lam_section(variant: str, quick: bool) -> dict:
    section = read_config(CONFIGS / "lam" / "pixel.yaml")["model"]
    section = shrink(section) if quick else section
    section["init_args"] = {k: v for k, v in section["init_args"].items() if k != "optimizer"}
    section["init_args"].update(VARIANTS[variant])
    if quick:
        section["init_args"]["warmup_steps"] = 2
    return section


def oracle_loss(lam, video: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    logits = F.normalize(lam.encode_latents(video), dim=-1) @ lam.quantizer.codes().t() / lam.search.temperature
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), true.reshape(-1))


def train_and_score(variant: str, data: str, seconds: float, quick: bool, seed: int, threads: int) -> dict:
    from genie_lit.evaluation.data import load_held_out, to_video
    from genie_lit.evaluation.latent_actions import latent_action_metrics

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    train = load_held_out(data, "train", (64, 64), None).episodes
    val = load_held_out(data, "val", (64, 64), None).episodes
    lam = build_model(lam_section(variant, quick))
    optimizer = torch.optim.AdamW(lam.parameters(), lr=6e-4, betas=(0.9, 0.99), weight_decay=0.01)
    rng = np.random.default_rng(seed)
    clip, batch = (4, 2) if quick else (8, 8)
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        picks = [train[rng.integers(len(train))] for _ in range(batch)]
        starts = [int(rng.integers(len(e.frames) - clip)) for e in picks]
        video = torch.stack([to_video(e.frames[s:s + clip]) for e, s in zip(picks, starts)])
        lam.train()
        if variant == "oracle":
            true = torch.stack([torch.from_numpy(e.actions[s:s + clip - 1]) for e, s in zip(picks, starts)])
            loss = oracle_loss(lam, video, true.clamp(min=0) % lam.num_actions)
        else:
            loss = lam.compute(video).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lam.parameters(), 1.0)
        optimizer.step()
        steps += 1
    trained = time.perf_counter() - start
    scores = latent_action_metrics(lam.eval(), val, clip, 16, torch.device("cpu"), shots=50 if quick else 200)
    games = game_scores(scores)
    return {"variant": variant, "steps": steps, "train_seconds": round(trained, 1),
            "seconds_per_step": trained / max(steps, 1), **scores["mean"], "games": games}


def ensure_recording(data: Path, quick: bool) -> None:
    if (data / "manifest.json").exists():
        return
    from genie_lit.data.record import record_atari

    episodes, steps = (3, 40) if quick else (8, 500)
    record_atari(data, ["boxing", "pong", "breakout"], episodes=episodes, steps=steps, seed=0, val_episodes=1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/atari"), help="recording (made if missing)")
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget per variant (8)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--parallel", action="store_true", help="run the variants at once, one thread each")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per variant (1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny models, 5 s per variant, tiny recording")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out = quick_out(args.out, args.quick)
    seconds = 5.0 if args.quick else args.minutes * 60
    data = args.out.parent / "lam_assignment_data" if args.quick else args.data
    ensure_recording(data, args.quick)
    record = {"command": command("lam_assignment.py", argv), "machine": machine(args.threads),
              "setup": {"data": str(data), "seconds_per_variant": seconds, "parallel": args.parallel,
                        "quick": args.quick, "split_scored": "val", "variants": {v: VARIANTS[v] for v in args.variants}}}
    jobs = [(v, str(data), seconds, args.quick, args.seed, args.threads) for v in args.variants]
    if args.parallel:
        with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
            results = pool.starmap(train_and_score, jobs)
    else:
        results = [train_and_score(*job) for job in jobs]
    record["results"] = results
    print_table(["variant", "steps", "NMI", "NMI chance", "200-shot acc.", "chance"],
                [[r["variant"], r["steps"], f"{r['nmi']:.3f}", f"{r['nmi_chance']:.3f}",
                  "n/a" if r["few_shot_accuracy"] is None else f"{r['few_shot_accuracy']:.3f}",
                  "n/a" if r["few_shot_chance"] is None else f"{r['few_shot_chance']:.3f}"] for r in results])
    finish(record, args.out)
    return record


if __name__ == "__main__":
    main()
