""":func:`evaluate_world`: every metric of ``genie-lit evaluate`` for one checkpoint, as a dict.

A co-training checkpoint (the world, tokenizer inside) gets every section; a tokenizer
checkpoint gets the tokenizer section only. Sections and their definitions are in
:mod:`genie_lit.evaluation.fidelity`, :mod:`~genie_lit.evaluation.latent_actions` and
:mod:`~genie_lit.evaluation.consistency`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from genie_lit.evaluation.consistency import action_consistency, pick_prompts
from genie_lit.evaluation.data import (
    EvaluationError, clip_batches, load_held_out, sample_clips, scene_partners, to_video,
)
from genie_lit.evaluation.fidelity import horizon_metrics, next_frame_metrics, rollout_metrics, tokenizer_metrics
from genie_lit.evaluation.latent_actions import latent_action_metrics
from genie_lit.metrics import STANDARD_I3D_SIZE, build_fvd
from genie_lit.models.checkpoints import CheckpointError, build_from_checkpoint, checkpoint_class, read_checkpoint
from genie_lit.models.cotraining import GenieCoTraining
from genie_lit.models.maskgit import MASKGIT_STEPS, MASKGIT_TEMPERATURE
from genie_lit.models.tokenizer import VideoTokenizer
from genie_lit.models.world import Genie

FORMAT = "genie_lit.evaluate/1"


def load_model(ckpt: str | Path, device: str, maskgit_steps: int, temperature: float
               ) -> tuple[str, Genie | VideoTokenizer, dict]:
    """``("world", Genie, datamodule hparams)`` or ``("tokenizer", VideoTokenizer, ...)``."""
    checkpoint = read_checkpoint(ckpt, "checkpoint")
    data_hparams = dict(checkpoint.get("datamodule_hyper_parameters") or {})
    cls = checkpoint_class(checkpoint)
    if cls is not None and issubclass(cls, GenieCoTraining):
        del checkpoint
        world = Genie.from_checkpoint(str(ckpt), map_location=device, maskgit_steps=maskgit_steps,
                                      temperature=temperature)
        return "world", world, data_hparams
    if cls is not None and issubclass(cls, VideoTokenizer):
        tokenizer = build_from_checkpoint(checkpoint, VideoTokenizer, ckpt, "tokenizer checkpoint")
        return "tokenizer", tokenizer.eval().to(device), data_hparams
    found = checkpoint.get("hyper_parameters", {}).get("_class_path", "an unknown module")
    raise CheckpointError(f"checkpoint {ckpt} holds {found}; pass a co-training checkpoint (configs/genie/"
                          "cotrain.yaml: the world with its tokenizer) or a tokenizer checkpoint (configs/tokenizer/)")


def _context(module: torch.nn.Module, data_hparams: dict) -> int:
    return int(getattr(module, "context_frames", 0)) or int(data_hparams.get("clip_length") or 0) or 16


def evaluate_world(
    ckpt: str | Path,
    data_dir: str | Path | None = None,
    split: str | None = None,
    max_clips: int = 64,
    clip_length: int | None = None,
    maskgit_steps: int = MASKGIT_STEPS,
    temperature: float = MASKGIT_TEMPERATURE,
    seed: int = 0,
    t: int = 4,
    horizon_frames: int = 16,
    fvd: bool = True,
    fvd_weights: str | None = None,
    fvd_size: int = STANDARD_I3D_SIZE,
    fvd_frames: int = 16,
    shots: int = 200,
    few_shot_seeds: int = 5,
    permutations: int = 5,
    prompts_per_game: int = 8,
    batch_size: int = 8,
    device: str = "cpu",
) -> dict[str, Any]:
    """Evaluate ``ckpt`` on the held-out episodes of ``data_dir`` (default: the folder it was
    trained on); ``split`` defaults to ``test`` when the data have test episodes, else ``val``."""
    if min(max_clips, batch_size, maskgit_steps, prompts_per_game, shots, few_shot_seeds, permutations) < 1:
        raise EvaluationError("max_clips, batch_size, maskgit_steps, prompts, shots, few-shot seeds and "
                              "permutations must all be at least 1")
    started = time.perf_counter()
    torch.manual_seed(seed)
    kind, model, data_hparams = load_model(ckpt, device, maskgit_steps, temperature)
    tokenizer = model.tokenizer if kind == "world" else model
    data_dir = data_dir or data_hparams.get("data_dir")
    if not data_dir:
        raise EvaluationError(f"{ckpt} does not record its training data folder; pass --data DIR")
    clip_length = clip_length or _context(model.dynamics if kind == "world" else tokenizer, data_hparams)
    if clip_length < 2 or (kind == "world" and clip_length < t):
        raise EvaluationError(f"--clip-length {clip_length} is too short: clips need 2 frames, and {t} for "
                              f"ΔtPSNR at t={t} (lower --t or raise --clip-length)")
    held = load_held_out(data_dir, split, tokenizer.image_size, data_hparams.get("fps"),
                         {k: data_hparams[k] for k in ("val_fraction", "test_fraction", "seed", "extensions")
                          if data_hparams.get(k) is not None})
    clips = sample_clips(held.episodes, clip_length, max_clips)
    if not clips:
        longest = max(len(e.frames) for e in held.episodes)
        raise EvaluationError(f"no held-out episode has {clip_length} frames (the longest has {longest}); "
                              "lower --clip-length")
    fvd_metric = None
    if kind == "world" and fvd:
        try:  # a bad weights file is reported before anything slow runs
            fvd_metric = build_fvd(fvd_weights, fvd_size, fvd_frames)
        except (FileNotFoundError, ValueError) as err:
            raise EvaluationError(str(err)) from err
    batches = clip_batches(held.episodes, clips, clip_length, batch_size)
    torch_device = torch.device(device)
    results: dict[str, Any] = {
        "format": FORMAT, "checkpoint": str(ckpt), "kind": kind, "data": str(data_dir), "split": held.split,
        "split_source": held.split_source,
        "held_out": {"episodes": len(held.episodes), "frames": sum(len(e.frames) for e in held.episodes),
                     "transitions": sum(len(e.frames) - 1 for e in held.episodes), "games": held.games,
                     "unreadable": held.skipped},
        "settings": {"clip_length": clip_length, "max_clips": max_clips, "clips": len(clips),
                     "maskgit_steps": maskgit_steps, "temperature": temperature, "seed": seed, "t": t,
                     "horizon_frames": horizon_frames,
                     "fvd": fvd, "fvd_weights": fvd_weights, "fvd_size": fvd_size, "fvd_frames": fvd_frames,
                     "shots": shots, "few_shot_seeds": few_shot_seeds, "permutations": permutations,
                     "prompts_per_game": prompts_per_game, "batch_size": batch_size, "device": device,
                     "resolution": list(tokenizer.image_size), "fps": data_hparams.get("fps")},
        "timings_s": {},
    }

    def timed(name: str, fn) -> Any:
        begin = time.perf_counter()
        value = fn()
        results["timings_s"][name] = round(time.perf_counter() - begin, 2)
        return value

    results["tokenizer"] = timed("tokenizer", lambda: tokenizer_metrics(tokenizer, batches, torch_device))
    if kind == "world":
        world = model
        results["next_frame"] = timed("next_frame", lambda: next_frame_metrics(world, batches, seed))
        results["rollouts"] = timed("rollouts", lambda: rollout_metrics(world, batches, t, seed, fvd_metric))
        long_clips = sample_clips(held.episodes, horizon_frames, max_clips) if horizon_frames >= 2 else []
        if long_clips:
            long_batches = clip_batches(held.episodes, long_clips, horizon_frames, batch_size)
            results["horizon"] = timed("horizon", lambda: horizon_metrics(
                world, long_batches, seed, scene_partners(held.episodes, long_clips)))
        lam_clip = int(world.lam.context_frames) or clip_length
        results["latent_actions"] = timed("latent_actions", lambda: latent_action_metrics(
            world.lam, held.episodes, lam_clip, batch_size, torch_device, shots, few_shot_seeds, permutations,
            seed, held.action_names))
        prompts = {game: torch.stack([to_video(held.episodes[e].frames[f:f + 1])[0] for e, f in picks])
                   for game, picks in pick_prompts(held.episodes, prompts_per_game).items()}
        results["action_consistency"] = timed("action_consistency", lambda: action_consistency(world, prompts, seed))
    results["timings_s"]["total"] = round(time.perf_counter() - started, 2)
    return results
