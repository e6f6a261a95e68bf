"""Held-out figures of one study run (one variant, one seed), kept per clip for confidence intervals.

Built from the parts of ``genie-lit evaluate`` (:mod:`genie_lit.evaluation`): the same held-out
split, clips, tokenizer reconstruction metrics, latent-action NMI against the recorded true actions
and the same rollouts (:func:`~genie_lit.models.world.rollout_pair`). What differs is what is kept:
ΔtPSNR (Bruce et al., 2024, §3) per clip, and the I3D features of each real and generated clip,
so that the table can give a 95% interval over seeds *and* clips (:mod:`genie_lit.studies.table`).

FVD is computed on clips of ``clip_length`` real frames (16 by default, the standard I3D input),
rolled out from their first frame; never on shorter clips padded by repetition.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genie_lit.evaluation.data import clip_batches, load_held_out, sample_clips
from genie_lit.evaluation.fidelity import tokenizer_metrics
from genie_lit.evaluation.latent_actions import latent_action_metrics
from genie_lit.evaluation.runner import load_model
from genie_lit.metrics import build_fvd, frame_psnr
from genie_lit.metrics.fvd import fvd_from_features
from genie_lit.models.world import rollout_pair

FEATURES_FILE = "fvd_features.npz"


@torch.no_grad()
def evaluate_run(ckpt: Path, data_dir: Path, settings: dict[str, Any], device: str, out: Path) -> dict[str, Any]:
    """Figures of ``ckpt`` (a world, or a tokenizer alone) on the held-out episodes of ``data_dir``;
    I3D features go to ``out/fvd_features.npz``."""
    started = time.perf_counter()
    torch.manual_seed(settings["seed"])
    kind, model, data_hparams = load_model(ckpt, device, settings["maskgit_steps"], settings["temperature"])
    tokenizer = model.tokenizer if kind == "world" else model
    held = load_held_out(data_dir, None, tokenizer.image_size, data_hparams.get("fps"),
                         {k: data_hparams[k] for k in ("val_fraction", "test_fraction", "seed", "extensions")
                          if data_hparams.get(k) is not None})
    length = settings["clip_length"]
    clips = sample_clips(held.episodes, length, settings["clips"])
    if not clips:
        raise ValueError(f"no held-out episode of {data_dir} has {length} frames; lower evaluation.clip_length")
    batches = clip_batches(held.episodes, clips, length, settings["batch_size"])
    torch_device = torch.device(device)
    results: dict[str, Any] = {"kind": kind, "split": held.split, "clips": len(clips), "clip_length": length,
                               "tokenizer": tokenizer_metrics(tokenizer, batches, torch_device)}
    if kind != "world":
        results["seconds"] = round(time.perf_counter() - started, 2)
        return results
    world = model
    fvd = extractor = None
    if settings["fvd"]:
        fvd, results["fvd_name"] = build_fvd(settings["fvd_weights"], settings["fvd_size"], length)
        extractor = fvd.feature_extractor.to(torch_device)
    i = settings["t"] - 1
    inferred_psnr, random_psnr, real_features, fake_features = [], [], [], []
    for indices, real in batches:
        real = real.to(torch_device)
        inferred, randomised = rollout_pair(world, real, indices, settings["seed"])
        inferred_psnr += frame_psnr(real[:, i], inferred[:, i], 1.0).tolist()
        random_psnr += frame_psnr(real[:, i], randomised[:, i], 1.0).tolist()
        if extractor is not None:
            real_features.append(extractor(real).double().cpu())
            fake_features.append(extractor(inferred).double().cpu())
    delta = np.asarray(inferred_psnr) - np.asarray(random_psnr)
    results["rollouts"] = {"t": settings["t"], "delta_psnr": float(delta.mean()),
                           "psnr_inferred": float(np.mean(inferred_psnr)), "psnr_random": float(np.mean(random_psnr)),
                           "delta_psnr_per_clip": delta.tolist()}
    if extractor is not None:
        real_np, fake_np = torch.cat(real_features).numpy(), torch.cat(fake_features).numpy()
        np.savez(out / FEATURES_FILE, real=real_np, fake=fake_np)
        results["fvd"] = float(fvd_from_features(torch.from_numpy(real_np), torch.from_numpy(fake_np))) \
            if len(real_np) >= 2 else None
    lam_clip = int(world.lam.context_frames) or int(data_hparams.get("clip_length") or length)
    actions = latent_action_metrics(world.lam, held.episodes, lam_clip, settings["batch_size"], torch_device,
                                    settings["shots"], 5, 5, settings["seed"], held.action_names)
    results["latent_actions"] = {k: actions["mean"][k] for k in ("nmi", "nmi_chance", "few_shot_accuracy",
                                                                "few_shot_chance")}
    results["seconds"] = round(time.perf_counter() - started, 2)
    return results
