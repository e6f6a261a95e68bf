"""Latent-action levers, screened on the latent action model alone at the quickstart's settings.

In the quickstart's world stage the LAM learns from its own loss only (the dynamics loss never
reaches it, and the two models share no parameter), so its latent actions can be screened
without the dynamics, at about a third of a world step's cost. Each variant is the quickstart's LAM
(``configs/models/lam_pixel.yaml`` as ``configs/genie/cotrain.yaml`` uses it) plus a few option
overrides, trained as the quickstart trains it: clips of 8 frames, batches of 8 drawn from the
training episodes of a ``genie-lit quickstart`` recording (``--data``), AdamW at 6e-4 with the
world's warm-up + cosine schedule over ``--steps`` optimizer steps, gradients clipped at 1,
bf16-mixed autocast (``--precision 32`` for 32-bit). It is then scored as ``genie-lit evaluate``
scores a world's LAM: NMI and 200-shot accuracy of the latent actions of every held-out test
transition against the recorded true actions, per game, beside their chance levels.

The ``quickstart`` variant checks the screen against the full world runs: at 1,000 and 2,000
steps its NMI should fall within the spread of ``results/quickstart_new_games.json`` and
``results/quickstart_2000.json``. Budgets are steps; figures are means (and std) over ``--seeds``.
Each finished run is kept under ``--work``, so a killed screen resumes where it stopped.

The ``oracle`` variant bounds what any LAM of this size could reach: the same encoder, trained for
the same steps as a *supervised* inverse dynamics model (its few-label head on every training
transition, the true action as target, no decoder), scored on its predicted true actions. Its NMI
is how much of the true action these frames reveal to this encoder; ``nmi_8`` merges its predicted
actions into 8 groups (greedily, keeping the most mutual information on the test transitions: an
upper bound for 8 codes).

``labels_only`` is the same supervised encoder trained on the labelled episodes of
``labels_each_game`` alone (one per game): what those few labels give without any LAM, the floor
that few-label LAM supervision (``anchored_labels``, ``anchored_labels_only``) has to beat.

The ``latent_target`` variant is LAOM's objective (Nikulin et al., ICML 2025) on this LAM's encoder:
no pixel decoder and no quantisation in training. The encoder's features of frame ``t`` (detached,
as LAOM does) and its continuous latent action ``a_t`` feed a small forward model that predicts the
features of frame ``t+1`` under a slowly moving (EMA, ``TARGET_TAU``) copy of the encoder; the MSE
trains the encoder through ``a_t`` only. After training, the 8 codes that play needs are a k-means
of the latent actions of training clips. (LAOM's IDM also sees a frame up to 10 steps ahead; this
LAM's encoder is causal and sees up to ``t+1``.)

    python benchmarks/lam_levers.py --data runs/quickstart/data --steps 1000 --seeds 0 1 \\
        --parallel 2 --variants quickstart augment continuous     # -> results/lam_levers.json
    python benchmarks/lam_levers.py --quick                      # smoke test: tiny models, seconds

A data lever is the same screen on another recording, scored on that recording's test episodes,
with its own ``oracle``; e.g. an action every 8 emulator frames instead of 4 (the quickstart's
recording otherwise):

    genie-lit record atari --episodes 10 --steps 500 --frame-skip 8 --val-episodes 1 \\
        --test-episodes 1 --out runs/frame_skip8/data
    python benchmarks/lam_levers.py --data runs/frame_skip8/data --seeds 0 1 --parallel 2 \\
        --variants quickstart oracle --out benchmarks/results/lam_levers_frame_skip8.json

or a new random action at every decision instead of one held for 1-8 (``--hold 1 1`` in place of
``--frame-skip 8``; ``results/lam_levers_hold1.json``), or each screen taken 2 emulator frames into
the next decision (``--screen-delay 2``; ``results/lam_levers_screen_delay2.json``).
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch

from common import (CONFIGS, RESULTS_DIR, build_model, command, finish, game_scores, machine, mean_std, print_table,
                    quick_out, read_config, run_key, shrink, training_step)

COTRAIN = CONFIGS / "genie" / "cotrain.yaml"  # the co-training config, whose LAM section is screened

RESULTS = RESULTS_DIR / "lam_levers.json"
# variant -> LAM option overrides on top of the quickstart's LAM
VARIANTS: dict[str, dict] = {
    "quickstart": {},  # the LAM as the quickstart trains it (hard-EM search assignment)
    "no_null_action": {"search": {"null_action_weight": 0.0}},  # without the decoder's zero-action loss
    # the decoder trunk sees x_t only: it cannot read a held action from the player's last moves
    "decoder_window1": {"search": {"decoder_window": 1}},
    # the E-step's codes pulled towards equal use over each batch (3 Sinkhorn steps, SwAV's choice)
    "balanced": {"search": {"balance_iterations": 3}},
    # each clip's E-step codes chosen together, a change of code penalised by 1 (3) times the clip's mean
    # spread of code errors: a prior that actions are held over several frames
    "persistence": {"search": {"persistence": 1.0}},
    "persistence3": {"search": {"persistence": 3.0}},
    "augment": {"augment_shift": 4},  # LAOM's augmentation: each clip shifted by up to 4 pixels
    "continuous": {"assignment": "continuous"},  # LAOM: no quantisation in training; a discrete head for play
    "continuous_augment": {"assignment": "continuous", "augment_shift": 4},
    # LAOM's few-label supervision: the true actions of 10% of the training episodes train a head on the
    # latent; with the continuous latent the codes (k-means of the latents) follow what the labels shape
    "labels": {"labelled_fraction": 0.1},
    "continuous_labels": {"assignment": "continuous", "labelled_fraction": 0.1},
    # 0.1 labels none of the quickstart recording's Battle Zone episodes; 0.16 labels one episode of
    # each game (Battle Zone ep0004, Private Eye ep0006, Tutankham ep0002: 3 of the 24, 12.5%)
    "labels_each_game": {"labelled_fraction": 0.16},
    # the same labels inside the E-step: a labelled transition takes the code of its true action
    "anchored_labels": {"labelled_fraction": 0.16, "search": {"anchor_labels": True}},
    # ... with the encoder trained on the labelled transitions alone (the decoder on all)
    "anchored_labels_only": {"labelled_fraction": 0.16, "search": {"anchor_labels": True, "unlabelled_weight": 0.0}},
    # ... with half of each batch's clips drawn from those labelled episodes (LABELLED_SHARE), so the
    # encoder sees about 28 labelled transitions a step instead of about 9
    "anchored_labels_half": {"labelled_fraction": 0.16, "search": {"anchor_labels": True}},
    "anchored_labels_only_half": {"labelled_fraction": 0.16,
                                  "search": {"anchor_labels": True, "unlabelled_weight": 0.0}},
    "oracle": {"labelled_fraction": 1.0},  # a supervised IDM of the same size: the ceiling (see above)
    # the same supervised IDM trained on the labelled episodes of labels_each_game alone: what those
    # few labels give without any LAM (the floor that few-label LAM supervision has to beat)
    "labels_only": {"labelled_fraction": 0.16},
    "latent_target": {"assignment": "continuous"},  # LAOM's latent-space forward objective (see above)
    # twice the decoder's depth (4 blocks): more of what the player does not control predicted from the
    # history, so that less of it is left for the latent action to explain
    "deep_decoder": {"decoder": {"init_args": {"depth": 4}}},
}
ORACLE, LATENT = "oracle", "latent_target"
SUPERVISED = (ORACLE, "labels_only")  # variants trained as supervised IDMs on their labelled episodes
# variant -> the share of each batch's clips drawn from the labelled episodes (otherwise clips are drawn
# uniformly over the training transitions)
LABELLED_SHARE = {"anchored_labels_half": 0.5, "anchored_labels_only_half": 0.5}
TARGET_TAU = 0.01  # EMA rate of the latent target's encoder per step
KMEANS_BATCHES = 64  # training batches whose latent actions seed the codes of latent_target
CLIP, BATCH, LR, WARMUP = 8, 8, 6e-4, 50  # the quickstart world's data and schedule


class PredictedActions:
    """The oracle's stand-in for latent actions: its head's most likely true action per transition."""

    def __init__(self, lam) -> None:
        from genie_lit.models.lam_options import MAX_TRUE_ACTIONS

        self.lam, self.num_actions = lam, MAX_TRUE_ACTIONS

    @torch.no_grad()
    def infer_actions(self, video: torch.Tensor, window: int | None = None) -> torch.Tensor:
        return self.lam.label_head(self.lam.encode_latents(video, window=window)).argmax(dim=-1)


def supervised_loss(lam, video: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """The oracle's objective: cross-entropy of its head on the encoder's latent against the true actions."""
    logits = lam.label_head(lam.encode_latents(video))
    known = actions >= 0
    return torch.nn.functional.cross_entropy(logits[known].float(), actions[known])


class LatentForward(torch.nn.Module):
    """LAOM's latent-space forward objective on ``lam``'s encoder (the ``latent_target`` variant)."""

    TRACKED = ("encoder", "encoder_embed", "encoder_pos")  # what the target copies from the online LAM

    def __init__(self, lam) -> None:
        super().__init__()
        dim, action_dim = lam.encoder.dim, lam.quantizer.dim
        self.lam = lam
        self.predictor = torch.nn.Sequential(torch.nn.Linear(dim + action_dim, 2 * dim), torch.nn.GELU(),
                                             torch.nn.Linear(2 * dim, dim))
        self._target = [copy.deepcopy(lam).requires_grad_(False)]  # a list: not a submodule, never trained

    @property
    def target(self):
        return self._target[0]

    def loss(self, video: torch.Tensor) -> torch.Tensor:
        tokens = self.lam.encoder_tokens(video)  # b t n d
        actions = self.lam.latents_from_tokens(tokens)  # b (t-1) e
        state = tokens[:, :-1].detach()
        inputs = torch.cat((state, actions[:, :, None].expand(-1, -1, state.shape[2], -1)), dim=-1)
        with torch.no_grad():
            target = self.target.encoder_tokens(video)[:, 1:]
        return torch.nn.functional.mse_loss(self.predictor(inputs).float(), target.float())

    @torch.no_grad()
    def update_target(self) -> None:
        for name in self.TRACKED:
            online, target = getattr(self.lam, name), getattr(self.target, name)
            pairs = [(target, online)] if isinstance(online, torch.nn.Parameter) else zip(target.parameters(),
                                                                                         online.parameters())
            for t, o in pairs:
                t.lerp_(o, TARGET_TAU)


def merged_nmi(joint: list[list[int]], groups: int) -> float:
    """NMI of a (predicted x true) count table after greedily merging its predicted rows into ``groups``
    (each merge keeps the most NMI): what ``groups`` codes could reach with these predictions."""
    from genie_lit.metrics.latent_actions import normalized_mutual_information as nmi

    rows = [r for r in np.asarray(joint, dtype=float) if r.sum() > 0]
    while len(rows) > groups:
        pairs = [(i, j) for i in range(len(rows)) for j in range(i + 1, len(rows))]

        def merged(pair):
            i, j = pair
            return [r for k, r in enumerate(rows) if k not in pair] + [rows[i] + rows[j]]
        rows = max((merged(p) for p in pairs), key=lambda table: nmi(np.array(table)))
    return float(nmi(np.array(rows)))


def merged(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` applied key by key, nested sections merged rather than replaced."""
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def lam_section(variant: str, quick: bool) -> dict:
    section = read_config(COTRAIN)["model"]["init_args"]["lam"]
    section = shrink(section) if quick else section
    init = merged({k: v for k, v in section["init_args"].items() if k != "optimizer"}, VARIANTS[variant])
    if quick:
        init["warmup_steps"] = 2
    return {**section, "init_args": init}


def run_record(variant: str, seed: int, data: str, steps: int, quick: bool, bf16: bool, work: str) -> Path:
    """Where a run's record is kept: keyed by the recording, the precision, the default config's values
    and the variant's own options (its overrides and batch share), so an edited variant is another run."""
    key = run_key(data, (COTRAIN,), bf16, quick, VARIANTS[variant], LABELLED_SHARE.get(variant))
    return Path(work) / f"{variant}_seed{seed}_{steps}_{key}.json"


def train_and_score(variant: str, seed: int, data: str, steps: int, quick: bool, threads: int, bf16: bool,
                    work: str) -> dict:
    """One run's record, read from ``work`` when that run finished before (a killed screen resumes)."""
    done = run_record(variant, seed, data, steps, quick, bf16, work)
    if done.exists():
        return json.loads(done.read_text())
    record = train_once(variant, seed, data, steps, quick, threads, bf16)
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(record) + "\n")
    return record


def labelled_share_odds(starts: np.ndarray, labelled: np.ndarray, share: float) -> np.ndarray:
    """Each episode's odds of giving a clip: ``share`` of them over the ``labelled`` episodes, the rest
    over the others, each group in proportion to its clip starts ``starts``."""
    if not labelled.any() or labelled.all():
        raise SystemExit("a labelled share needs labelled and unlabelled training episodes")
    odds = np.where(labelled, share * starts / starts[labelled].sum(), (1 - share) * starts / starts[~labelled].sum())
    return odds / odds.sum()


def train_once(variant: str, seed: int, data: str, steps: int, quick: bool, threads: int, bf16: bool) -> dict:
    from genie_lit.evaluation.data import load_held_out, to_video
    from genie_lit.evaluation.latent_actions import latent_action_metrics
    from genie_lit.models import WarmupCosineLR
    from genie_lit.models.lam_options import labelled_episodes

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    size = (32, 32) if quick else (64, 64)
    train = load_held_out(data, "train", size, None).episodes
    test = load_held_out(data, None, size, None).episodes
    section = lam_section(variant, quick)
    section["init_args"]["image_size"] = size[0]
    lam = build_model(section)
    oracle, forward = variant in SUPERVISED, LatentForward(lam) if variant == LATENT else None
    if oracle:  # a supervised IDM sees only its labelled episodes (all of them for the oracle)
        train = [e for e, chosen in zip(train, labelled_episodes([e.relpath for e in train], lam.labelled_fraction))
                 if chosen]
        if not train:
            raise SystemExit(f"{variant}: labelled_fraction {lam.labelled_fraction} labels none of the training "
                             f"episodes of {data}; record more episodes")
    extra = [{"params": list(forward.predictor.parameters())}] if forward is not None else []
    trained = forward if forward is not None else lam  # what the gradient clipping covers
    if oracle:
        def loss(video, actions, episodes):
            return supervised_loss(lam, video, actions)
    elif forward is not None:
        def loss(video, actions, episodes):
            return forward.loss(video)
    else:
        def loss(video, actions, episodes):
            return lam.compute(video, actions, episodes).loss
    optimizer = torch.optim.AdamW(lam.param_groups() + extra, lr=LR, betas=(0.9, 0.99), weight_decay=0.01)
    scheduler = WarmupCosineLR(optimizer, warmup_steps=min(WARMUP, steps), total_steps=steps, min_ratio=0.1)
    clip, batch = (4, 2) if quick else (CLIP, BATCH)
    starts_per_episode = np.array([len(e.frames) - clip + 1 for e in train], dtype=float)
    odds = starts_per_episode / starts_per_episode.sum()
    if variant in LABELLED_SHARE:
        odds = labelled_share_odds(starts_per_episode, labelled_episodes([e.relpath for e in train],
                                                                         lam.labelled_fraction).numpy(),
                                   LABELLED_SHARE[variant])
    rng = np.random.default_rng(seed)

    def sample() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        picks = rng.choice(len(train), size=batch, p=odds)
        firsts = [int(rng.integers(starts_per_episode[i])) for i in picks]
        video = torch.stack([to_video(train[i].frames[s:s + clip]) for i, s in zip(picks, firsts)])
        actions = torch.stack([torch.from_numpy(train[i].actions[s:s + clip - 1]) for i, s in zip(picks, firsts)])
        return video, actions, [train[i].relpath for i in picks]  # labels reach a loss only where read

    lam.train()
    started = time.perf_counter()
    for step in range(1, steps + 1):
        video, actions, episodes = sample()
        training_step(trained, lambda: loss(video, actions, episodes), optimizer, scheduler, 1.0, bf16)
        if forward is not None:
            forward.update_target()
        if step % 100 == 0:
            print(f"[lam_levers] {variant} seed {seed}: step {step}/{steps}, "
                  f"{(time.perf_counter() - started) / step:.2f} s/step", flush=True)
    seconds = time.perf_counter() - started
    if forward is not None:  # the 8 codes for play: k-means of the latent actions of training clips
        with torch.no_grad():
            lam.quantizer.init_from(torch.cat([lam.encode_latents(sample()[0]).flatten(0, 1)
                                               for _ in range(KMEANS_BATCHES)]))
    scored = PredictedActions(lam.eval()) if oracle else lam.eval()
    scores = latent_action_metrics(scored, test, clip, 16, torch.device("cpu"), shots=50 if quick else 200)
    games = game_scores(scores)
    for game, g in games.items():
        joint = scores["games"][game]["joint"]
        g["nmi_8"] = merged_nmi(joint, 8) if joint is not None else None
    known = [(g["nmi_8"], scores["games"][game]["labelled"]) for game, g in games.items() if g["nmi_8"] is not None]
    nmi_8 = float(np.average([v for v, _ in known], weights=[w for _, w in known])) if known else None
    print(f"[lam_levers] {variant} seed {seed}: NMI {scores['mean']['nmi']:.3f}", flush=True)
    return {"variant": variant, "seed": seed, "steps": steps, "seconds_per_step": seconds / steps,
            **scores["mean"], "nmi_8": nmi_8, "games": games}


def shown(value: tuple[float, float] | None, spread: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value[0]:.3f} ± {value[1]:.3f}" if spread else f"{value[0]:.3f}"


def eight_codes(run: dict, scores: dict) -> float | None:
    """``nmi_8`` of a run's (or one game's) scores; a LAM's 8 codes need no merging, so for a run kept
    before ``nmi_8`` was recorded it is its NMI (an oracle's stays unknown)."""
    if scores.get("nmi_8") is not None or run["variant"] in SUPERVISED:
        return scores.get("nmi_8")
    return scores["nmi"]


def summarise(results: list[dict], variants: list[str]) -> dict:
    out = {}
    for variant in variants:
        runs = [r for r in results if r["variant"] == variant]
        entry = {key: mean_std([r[key] for r in runs])
                 for key in ("nmi", "nmi_chance", "few_shot_accuracy", "few_shot_chance", "seconds_per_step")}
        entry["nmi_8"] = mean_std([eight_codes(r, r) for r in runs])
        entry["games"] = {game: {"nmi": mean_std([r["games"][game]["nmi"] for r in runs]),
                                 "nmi_8": mean_std([eight_codes(r, r["games"][game]) for r in runs]),
                                 "few_shot_accuracy": mean_std([r["games"][game]["few_shot_accuracy"] for r in runs])}
                          for game in runs[0]["games"]}
        out[variant] = entry
    return out


def make_quick_data(root: Path) -> Path:
    from genie_lit.data.record import record_atari

    data = root / "lam_levers_data"
    if not (data / "manifest.json").exists():
        record_atari(data, ["pong", "breakout"], episodes=4, steps=40, resolution=(32, 32), seed=0, val_episodes=1,
                     test_episodes=1)
    return data


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a genie-lit quickstart recording (its data/ folder)")
    parser.add_argument("--steps", type=int, default=1000, help="optimizer steps per run (1000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--parallel", type=int, default=1, help="runs at once (1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (1)")
    parser.add_argument("--precision", choices=("bf16", "32"), default="bf16", help="as the quickstart's world")
    parser.add_argument("--quick", action="store_true", help="tiny models and recording, a few steps")
    parser.add_argument("--work", type=Path, default=Path("runs/lam_levers"),
                        help="each finished run's record; a run found here is not trained again")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out = quick_out(args.out, args.quick)
    work = args.work
    if args.quick:
        data, steps, work = make_quick_data(args.out.parent), 3, args.out.parent / "lam_levers_runs"
    elif args.data is None:
        parser.error("--data is required (a quickstart's data folder), or --quick")
    else:
        data, steps = args.data, args.steps
    record = {"command": command("lam_levers.py", argv), "machine": machine(args.threads),
              "setup": {"data": str(data), "steps": steps, "seeds": args.seeds, "precision": args.precision,
                        "clip_length": CLIP, "batch_size": BATCH, "split_scored": "test",
                        "variants": {v: VARIANTS[v] for v in args.variants}}}
    jobs = [(v, s, str(data), steps, args.quick, args.threads, args.precision == "bf16", str(work))
            for s in args.seeds for v in args.variants]
    if args.parallel > 1:
        with multiprocessing.get_context("spawn").Pool(args.parallel) as pool:
            results = pool.starmap(train_and_score, jobs)
    else:
        results = [train_and_score(*job) for job in jobs]
    record["results"] = results
    record["summary"] = summarise(results, args.variants)
    rows = []
    for variant, s in record["summary"].items():
        games = " / ".join(shown(g["nmi"], spread=False) for g in s["games"].values())
        rows.append([variant, shown(s["nmi"]), shown(s["nmi_8"]), shown(s["nmi_chance"], False), games,
                     shown(s["few_shot_accuracy"]), shown(s["few_shot_chance"], False),
                     f"{s['seconds_per_step'][0]:.2f}"])
    print_table(["variant", "NMI", "NMI, 8 codes", "chance", "NMI per game", "200-shot", "chance", "s/step"], rows)
    finish(record, args.out)
    return record


if __name__ == "__main__":
    main()
