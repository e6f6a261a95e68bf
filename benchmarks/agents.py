"""Agents from latent actions in the real game (Bruce et al., 2024, §6.1.4), per game:

1. record scripted-expert episodes (``genie-lit record atari --policy expert``);
2. train latent action models on them, unsupervised (``labelled_fraction`` 0, the paper) and with
   few labels (0.01 and 0.025 of the episodes, LAOM), or take ``--lam`` for the unsupervised one.
   Labelled episodes are chosen whole (a hash of their file), so a fraction that labels none of
   the recording's training episodes is skipped: it would train the unsupervised LAM again. By
   default the labels reach the LAM through a small head on its latent (LAOM); with
   ``--anchor-labels`` they train its encoder instead: a labelled transition's code is its true
   action's (``search.anchor_labels``), the encoder learns from those transitions alone
   (``search.unlabelled_weight`` 0) and half of each batch comes from the labelled episodes
   (``data.labelled_share`` 0.5);
3. their NMI and 200-shot accuracy against the true actions of the held-out expert episodes;
4. behaviour-cloning policies on each LAM's latent actions (``configs/agent/bc_latent.yaml``) and
   the oracle on the true actions (``configs/agent/bc_oracle.yaml``);
5. ``genie-lit agent evaluate`` in the real game: the unsupervised LAM policy with maps fitted on
   N = 50, 200, 1000 labelled transitions, the few-label policies at N = 200, the oracle, random
   and the expert; mean return ± 95% CI over the same episode seeds, normalised score;
6. each policy's agreement with the expert: on the expert's own trajectory (no random actions, at
   most ``--max-steps`` decisions), the share of decisions where the policy's most likely action
   (latent codes through the row's map) is the expert's, beside the share of the expert's most
   frequent action (``expert_agreement_majority``, what a constant policy reaches), and the counts
   of (expert's action, policy's action) pairs (``expert_confusion``).

    # the unsupervised LAM's table: 16 episodes of 500 decisions per game (0.01 and 0.025 label none)
    python benchmarks/agents.py --games pong,breakout --episodes 16 --steps 500 --lam-steps 2000 \
        --policy-steps 2000 --eval-episodes 20 --fractions 0 --parallel 2 --threads 1   # results/agents.json
    # the few-label rows: the same 8,000 transitions as 80 episodes of 100, where 0.01 and 0.025
    # label 1 and 2 of the 79 training episodes of each game
    python benchmarks/agents.py --games pong,breakout --episodes 80 --steps 100 --lam-steps 1000 \
        --policy-steps 2000 --eval-episodes 20 --parallel 2 --threads 1 --out benchmarks/results/agents_few_labels.json
    # few labels that train the LAM's encoder (--anchor-labels), on 80 Pong episodes of 500
    # decisions, where 0.025 labels 2 of the 79 training episodes and 0.01 labels 1
    python benchmarks/agents.py --games pong --episodes 80 --steps 500 --lam-steps 1000 --policy-steps 2000 \
        --eval-episodes 20 --fractions 0 0.01 0.025 --anchor-labels --threads 1 \
        --out benchmarks/results/agents_anchored_labels.json
    # Breakout with 5x the expert data and 8x the policy steps, unsupervised and 2.5% labelled
    python benchmarks/agents.py --games breakout --episodes 80 --steps 500 --lam-steps 2000 \
        --policy-steps 16000 --eval-episodes 20 --fractions 0 0.025 --anchor-labels --threads 1 \
        --work runs/bench_agents_breakout --out benchmarks/results/agents_breakout.json
    # a second seed of each, then both seeds of a table as mean and std (rows that one seed lacks are the other's)
    python benchmarks/agents.py --games pong --episodes 80 --steps 500 --lam-steps 1000 --policy-steps 2000 \
        --eval-episodes 20 --fractions 0 0.025 --anchor-labels --threads 1 --seed 1 \
        --work runs/bench_agents_pong_seed1 --out benchmarks/results/agents_anchored_labels_seed1.json
    python benchmarks/agents.py --games breakout --episodes 80 --steps 500 --lam-steps 2000 \
        --policy-steps 16000 --eval-episodes 20 --fractions 0 0.025 --anchor-labels --threads 1 --seed 1 \
        --work runs/bench_agents_breakout_seed1 --out benchmarks/results/agents_breakout_seed1.json
    python benchmarks/agents.py --combine benchmarks/results/agents_anchored_labels.json \
        benchmarks/results/agents_anchored_labels_seed1.json --out benchmarks/results/agents_anchored_labels_seeds.json
    # policies of 8,000 steps (the default): seed 1 here, seeds 0 and 2 alike (seed 0 with --fractions
    # 0 0.01 0.025, each in its own --work), then --combine of the three
    python benchmarks/agents.py --games pong --episodes 80 --steps 500 --lam-steps 1000 --policy-steps 8000 \
        --eval-episodes 20 --fractions 0 0.025 --anchor-labels --threads 1 --seed 1 \
        --work runs/bc8k_s1 --out benchmarks/results/agents_pong_bc8k_s1.json
    # the same models played greedily (their most likely action, a random one with probability 0.05):
    # the fits are reused from --work, only the evaluation runs again
    python benchmarks/agents.py --games pong --episodes 80 --steps 500 --lam-steps 1000 --policy-steps 8000 \
        --eval-episodes 20 --fractions 0 0.025 --anchor-labels --threads 1 --seed 1 --greedy --epsilon 0.05 \
        --work runs/bc8k_s1 --out benchmarks/results/agents_pong_bc8k_s1_greedy.json
    python benchmarks/agents.py --quick                 # the smoke test (tiny models, seconds)

``--parallel 2 --threads 1`` runs the games at once, one process each. A finished fit (its folder
holds ``done``) is reused, so a killed run resumes at its first unfinished model, from its last
checkpoint; asked for more steps (``--policy-steps``, ``--lam-steps``), a finished fit is continued
from its last checkpoint to them. ``--seed`` sets
``seed_everything`` for every fit (the recording and the evaluation episodes stay the same), for a
second seed of a table in another ``--work`` folder.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path

import torch

from common import CONFIGS, RESULTS_DIR, command, finish, machine, mean_std, print_table, quick_out, run_genie_lit

RESULTS = RESULTS_DIR / "agents.json"
FRACTIONS = (0.0, 0.01, 0.025)
SHOTS = (50, 200, 1000)
TINY_LAM = ["--model.init_args.encoder.init_args.dim", "32", "--model.init_args.encoder.init_args.depth", "1",
            "--model.init_args.decoder.init_args.dim", "32", "--model.init_args.decoder.init_args.depth", "1",
            "--model.init_args.search.head_hidden", "32", "--data.clip_length", "4", "--data.batch_size", "2"]
TINY_POLICY = ["--model.init_args.width", "8", "--model.init_args.hidden", "32", "--data.batch_size", "8"]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
# --anchor-labels: the labelled transitions' true actions are their codes and the encoder's only teacher,
# and half of each batch comes from the labelled episodes (a fraction of 0.01 labels about one clip in
# a hundred: with uniform batches the encoder would see a labelled transition every tenth step)
ANCHORED = ["--model.init_args.search.anchor_labels", "true", "--model.init_args.search.unlabelled_weight", "0",
            "--data.labelled_share", "0.5"]


def fit(config_args: list[str], root: Path, steps: int, threads: int, extra: list[str], seed: int = 0) -> Path:
    """``genie-lit fit`` of ``steps`` steps into ``root`` with ``seed_everything`` ``seed``; returns its
    last checkpoint. A finished fit (``root/done`` holds its steps; an empty one, from before this
    was written, counts as ``steps``) is reused; one of fewer steps is continued from its last
    checkpoint (``--ckpt_path last``: a constant learning rate, so the same training, longer), as is
    a fit that was killed."""
    ckpt, done = root / "checkpoints" / "last.ckpt", root / "done"
    if done.exists():
        trained = int(done.read_text().strip() or steps)
        if trained == steps:
            return ckpt
        if trained > steps:
            raise SystemExit(f"{root} holds a fit of {trained} steps, more than the {steps} asked: "
                             "give this run another --work folder")
    run_genie_lit(["fit", *config_args, "--seed_everything", str(seed), "--trainer.default_root_dir", str(root),
                   "--trainer.max_steps", str(steps), "--trainer.val_check_interval", str(max(1, min(250, steps))),
                   *QUIET, *extra, *(["--ckpt_path", "last"] if ckpt.exists() else [])], threads, root / "log.txt")
    done.write_text(f"{steps}\n")
    return ckpt


def lam_metrics(lam_ckpt: Path, data: Path) -> dict:
    """NMI and 200-shot accuracy of the LAM's codes on the held-out expert episodes."""
    from genie_lit.agents.lam_labels import lam_clip_length, load_lam
    from genie_lit.evaluation.data import load_held_out
    from genie_lit.evaluation.latent_actions import latent_action_metrics

    lam = load_lam(lam_ckpt)
    held = load_held_out(data, "val", tuple(lam.image_size), None)
    labelled = sum(int((e.actions >= 0).sum()) for e in held.episodes)
    shots = min(200, max(1, labelled - 1))
    mean = latent_action_metrics(lam, held.episodes, lam_clip_length(lam), 16, torch.device("cpu"), shots=shots)["mean"]
    return {"nmi": mean["nmi"], "nmi_chance": mean["nmi_chance"], "few_shot_accuracy": mean["few_shot_accuracy"],
            "few_shot_chance": mean["few_shot_chance"], "shots": shots, "transitions": mean["transitions"]}


def labelled(data: Path, fraction: float) -> tuple[int, int]:
    """How many of the recording's training episodes ``labelled_fraction`` labels, of how many."""
    from genie_lit.models.lam_options import labelled_episodes

    train = [e["file"] for e in json.loads((data / "manifest.json").read_text())["episodes"] if e["split"] == "train"]
    return int(labelled_episodes(train, fraction).sum()) if fraction > 0 else 0, len(train)


def run_game(game: str, args: argparse.Namespace, root: Path) -> list[dict]:
    from genie_lit.agents.evaluate import evaluate_agent
    from genie_lit.data.record import record_atari

    data = root / "data"
    if not (data / "manifest.json").exists():
        record_atari(data, [game], episodes=args.episodes, steps=args.steps, policy="expert", val_episodes=1,
                     mode="overwrite")
    tiny_lam, tiny_policy = (TINY_LAM, TINY_POLICY) if args.quick else ([], [])
    rows, lams, counts, names = [], {}, {}, {0.0: "0.0"}
    for fraction in args.fractions:
        chosen, total = counts[fraction] = labelled(data, fraction)
        if fraction == 0 and args.lam:
            lams[fraction] = Path(args.lam)
            continue
        if fraction > 0 and not chosen:  # the LAM would be the unsupervised one again
            print(f"{game}: labelled_fraction {fraction} labels none of the {total} training episodes (episodes are "
                  "chosen whole, by a hash); skipped: record more episodes (--episodes) for so small a fraction")
            continue
        names[fraction] = f"{fraction}{'_anchored' if fraction > 0 and args.anchor_labels else ''}"
        lams[fraction] = fit(["--config", str(CONFIGS / "lam" / "pixel.yaml"), "--data.data_dir", str(data),
                              "--data", "genie_lit.agents.EpisodeVideoDataModule",
                              "--model.init_args.labelled_fraction", str(fraction),
                              *(ANCHORED + ["--data.labelled_fraction", str(fraction)]
                                if fraction > 0 and args.anchor_labels else [])],
                             root / f"lam_{names[fraction]}", args.lam_steps, args.threads, tiny_lam, args.seed)
    oracle = fit(["--config", str(CONFIGS / "agent" / "bc_latent.yaml"), "--config",
                  str(CONFIGS / "agent" / "bc_oracle.yaml"), "--data.data_dir", str(data)],
                 root / "bc_oracle", args.policy_steps, args.threads, tiny_policy, args.seed)
    common = {"episodes": args.eval_episodes, "max_steps": args.max_steps, "seed": 0, "greedy": args.greedy,
              "epsilon": args.epsilon}
    baselines: dict = {}
    for fraction, lam in lams.items():
        policy = fit(["--config", str(CONFIGS / "agent" / "bc_latent.yaml"), "--data.data_dir", str(data),
                      "--data.lam_ckpt", str(lam)], root / f"bc_latent_{names[fraction]}", args.policy_steps,
                     args.threads, tiny_policy, args.seed)
        metrics = lam_metrics(lam, data)
        for shots in (args.shots if fraction == 0 else (200,)):
            first = not baselines  # the oracle, random and expert run once, over the same episode seeds
            report = evaluate_agent(policy, game, shots=shots, oracle_ckpt=oracle if first else None,
                                    baselines=first, video=root / "policy.mp4" if first else None, **common)
            agents = report["agents"]
            if first:
                baselines = {name: agents[name] for name in ("oracle", "random", "expert")}
                oracle_agreement = report["expert_agreement"]
            anchored = fraction > 0 and args.anchor_labels
            rows.append({"game": game, "agent": f"LAM policy, labelled_fraction {fraction}"
                                                f"{', labels anchored' if anchored else ''}", "shots": shots,
                         **_score(agents["policy"], baselines), "lam": metrics,
                         "labelled_episodes": counts[fraction], "anchored_labels": anchored,
                         "expert_agreement": report["expert_agreement"]["policy"],
                         "expert_confusion": report["expert_agreement"]["confusion"]["policy"],
                         "expert_agreement_majority": report["expert_agreement"]["majority"]})
    rows += [{"game": game, "agent": name, "shots": None, **_score(entry, baselines), "lam": None,
              "expert_agreement": oracle_agreement["oracle"] if name == "oracle" else None,
              "expert_confusion": oracle_agreement["confusion"]["oracle"] if name == "oracle" else None,
              "expert_agreement_majority": oracle_agreement["majority"]}
             for name, entry in baselines.items()]
    return rows


def _game_job(job: tuple[str, argparse.Namespace]) -> list[dict]:
    game, args = job
    torch.set_num_threads(args.threads)  # a worker of --parallel: its evaluation runs here
    return run_game(game, args, Path(args.work) / game)


def _pm(stats: dict | None, digits: int) -> str:
    return "" if stats is None else f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def _score(entry: dict, baselines: dict) -> dict:
    low, high = baselines["random"]["mean"], baselines["expert"]["mean"]
    return {"return_mean": entry["mean"], "return_ci95": entry["ci95"], "returns": entry["returns"],
            "normalised": (entry["mean"] - low) / (high - low) if high != low else None}


FIGURES = {"return": lambda r: r["return_mean"], "normalised": lambda r: r["normalised"],
           "expert_agreement": lambda r: r.get("expert_agreement"),
           "lam_nmi": lambda r: r["lam"]["nmi"] if r["lam"] else None,
           "lam_few_shot_accuracy": lambda r: r["lam"]["few_shot_accuracy"] if r["lam"] else None}


def combine(paths: list[str]) -> list[dict]:
    """Rows of several runs of this script (seeds): per (game, agent, N), each figure's mean, sample
    std and values over the runs that have the row (``runs``, ``sources``: a row that only some
    runs measured is averaged over those), and the normalised score as a share of the oracle's of
    the same run."""
    runs = [json.loads(Path(p).read_text())["results"] for p in paths]
    keys = list(dict.fromkeys((r["game"], r["agent"], r["shots"]) for rows in runs for r in rows))
    combined = []
    for game, agent, shots in keys:
        pairs = [(path, next((r for r in rows if (r["game"], r["agent"], r["shots"]) == (game, agent, shots)), None),
                  next((r for r in rows if (r["game"], r["agent"]) == (game, "oracle")), None))
                 for path, rows in zip(paths, runs)]
        pairs = [pair for pair in pairs if pair[1] is not None]
        found, oracles = [r for _, r, _ in pairs], [o for _, _, o in pairs]
        row: dict = {"game": game, "agent": agent, "shots": shots, "runs": len(found),
                     "sources": [path for path, _, _ in pairs]}
        for name, read in FIGURES.items():
            values = [read(r) for r in found]
            stats = mean_std(values)
            row[name] = None if stats is None else {"mean": stats[0], "std": stats[1], "values": values}
        shares = [r["normalised"] / o["normalised"] if o and r["normalised"] is not None and o["normalised"] else None
                  for r, o in zip(found, oracles)]
        stats = mean_std(shares)
        row["of_oracle"] = None if stats is None else {"mean": stats[0], "std": stats[1], "values": shares}
        combined.append(row)
    return combined


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", default="pong,breakout")
    parser.add_argument("--episodes", type=int, default=16, help="expert episodes recorded per game")
    parser.add_argument("--steps", type=int, default=500, help="transitions per recorded episode")
    parser.add_argument("--lam", default=None, help="an existing LAM or world checkpoint for labelled_fraction 0")
    parser.add_argument("--fractions", type=float, nargs="+", default=list(FRACTIONS),
                        help="labelled_fraction of each LAM trained")
    parser.add_argument("--shots", type=int, nargs="+", default=list(SHOTS),
                        help="labelled transitions of the unsupervised LAM policy's action maps")
    parser.add_argument("--anchor-labels", action="store_true",
                        help="few-label LAMs learn their encoder from the labelled transitions' true actions "
                             "(search.anchor_labels, unlabelled_weight 0, half of each batch from the labelled "
                             "episodes) instead of through a head")
    parser.add_argument("--lam-steps", type=int, default=2000, help="as the quickstart world's LAM")
    parser.add_argument("--policy-steps", type=int, default=8000, help="as configs/agent/bc_latent.yaml")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--max-steps", type=int, default=1000, help="decisions per evaluation episode")
    parser.add_argument("--greedy", action="store_true",
                        help="policies play their most likely action (agent evaluate --greedy) instead of drawing it")
    parser.add_argument("--epsilon", type=float, default=0.0,
                        help="probability of a random action at a policy's decision (agent evaluate --epsilon)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed_everything of every fit (LAMs and policies); the recording and the evaluation "
                             "episodes stay the same")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=1, help="games at once, one process each")
    parser.add_argument("--work", default="runs/bench_agents", help="folder for data, checkpoints and logs")
    parser.add_argument("--quick", action="store_true", help="tiny models and data: the smoke test")
    parser.add_argument("--combine", nargs="+", metavar="JSON",
                        help="instead of running: combine these results of one table (e.g. two --seed runs) into "
                             "each figure's mean and std, and write them to --out")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.combine:
        record = {"command": command("agents.py", argv), "machine": machine(1), "sources": args.combine,
                  "results": combine(args.combine)}
        print_table(["game", "agent", "N", "runs", "return", "normalised", "of the oracle's", "agrees with expert"],
                    [[r["game"], r["agent"], r["shots"] or "", r["runs"], _pm(r["return"], 2), _pm(r["normalised"], 2),
                      _pm(r["of_oracle"], 2), _pm(r["expert_agreement"], 3)] for r in record["results"]])
        finish(record, Path(args.out))
        return record
    args.out = quick_out(args.out, args.quick)
    if args.quick:
        args.games, args.episodes, args.steps, args.lam_steps, args.policy_steps = "pong", 3, 40, 2, 2
        args.eval_episodes, args.max_steps, args.threads = 2, 10, 1
        if args.work == "runs/bench_agents":
            args.work = str(Path(args.out).with_suffix("")) + "_work"
    record = {"command": command("agents.py", argv), "machine": machine(args.threads),
              "setup": {k: v for k, v in vars(args).items() if k not in ("out",)}, "results": []}
    start = time.perf_counter()
    jobs = [(g.strip(), args) for g in args.games.split(",") if g.strip()]
    if args.parallel > 1 and len(jobs) > 1:
        with multiprocessing.get_context("spawn").Pool(min(args.parallel, len(jobs))) as pool:
            per_game = pool.map(_game_job, jobs)
    else:
        per_game = [run_game(game, args, Path(args.work) / game) for game, _ in jobs]
    record["results"] = [row for rows in per_game for row in rows]
    record["seconds"] = time.perf_counter() - start
    print_table(["game", "agent", "N", "return ± 95% CI", "normalised", "agrees with expert", "LAM NMI",
                 "LAM 200-shot acc."],
                [[r["game"], r["agent"], r["shots"] or "", f"{r['return_mean']:.2f} ± {r['return_ci95']:.2f}",
                  "" if r["normalised"] is None else f"{r['normalised']:.2f}",
                  "" if r["expert_agreement"] is None else f"{r['expert_agreement']:.3f}",
                  f"{r['lam']['nmi']:.3f}" if r["lam"] else "",
                  f"{r['lam']['few_shot_accuracy']:.3f}" if r["lam"] else ""]
                 for r in record["results"]])
    finish(record, Path(args.out))
    return record


if __name__ == "__main__":
    main()
