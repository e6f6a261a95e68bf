"""Pixel metrics of ``genie-lit evaluate`` (Bruce et al., 2024, §3 "Metrics"), on held-out clips.

- :func:`tokenizer_metrics`: the tokenizer's reconstruction PSNR and SSIM (torchmetrics, PSNR of
  the MSE pooled over all frames, as ``val/psnr`` in training) and its codebook usage.
- :func:`next_frame_metrics`: one-step prediction with teacher forcing. The world is prompted
  with the real frames ``x_1..x_{T-1}`` of a clip (their tokens, and the LAM's actions between
  them) and steps once with the action the LAM infers for ``x_{T-1} -> x_T``; MaskGIT decodes
  the tokens of ``x̂_T``, the tokenizer decodes them to pixels. Beside it: the same step with a
  random action, copying ``x_{T-1}`` (no model) and the tokenizer's own reconstruction of
  ``x_T`` (the ceiling: the dynamics can only predict tokens). Also the latent action model's
  own next-frame reconstruction PSNR over every frame of the clip (``val/lam_psnr`` in training)
  beside copying the previous frame.
- :func:`rollout_metrics`: ΔtPSNR and FVD of rollouts from ``x_1``, computed exactly as the
  :class:`~genie_lit.callbacks.RolloutMetrics` callback does (same seeds, same FVD name).
- :func:`horizon_metrics`: the horizon of longer rollouts (16 frames by default, past the
  training clips): their PSNR against the real clip at every frame, beside copying ``x_1`` and
  beside a real clip of another scene of the same game (:func:`rollout_horizon`).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from genie_lit.metrics import DeltaPSNR, FrechetVideoDistance, frame_psnr
from genie_lit.models.tokenizer import VideoTokenizer
from genie_lit.models.world import SEED_STRIDE, Genie, random_actions, rollout_pair

Batches = list[tuple[Tensor, Tensor]]  # (indices b, video b t c h w)


def _frames(video: Tensor) -> Tensor:
    return rearrange(video, "b t c h w -> (b t) c h w")


def _psnr() -> PeakSignalNoiseRatio:
    return PeakSignalNoiseRatio(data_range=1.0)


@torch.no_grad()
def tokenizer_metrics(tokenizer: VideoTokenizer, batches: Batches, device: torch.device) -> dict:
    psnr, ssim = _psnr().to(device), StructuralSimilarityIndexMeasure(data_range=1.0).to(device)
    used = torch.zeros(tokenizer.codebook_size, dtype=torch.bool, device=device)
    clips = frames = 0
    for _, video in batches:
        video = video.to(device)
        recon, out = tokenizer(video)
        recon, real = _frames(recon.clamp(0, 1)), _frames(video)
        psnr.update(recon, real)
        ssim.update(recon, real)
        used[out.indices.unique()] = True
        clips, frames = clips + video.shape[0], frames + real.shape[0]
    return {"psnr": float(psnr.compute()), "ssim": float(ssim.compute()),
            "codebook_usage": float(used.float().mean()), "codebook_size": tokenizer.codebook_size,
            "clips": clips, "frames": frames}


@torch.no_grad()
def next_frame_metrics(world: Genie, batches: Batches, seed: int) -> dict:
    device = world.device
    names = ("dynamics_inferred", "dynamics_random", "copy_previous", "tokenizer_ceiling", "lam", "lam_copy_previous")
    psnr = {name: _psnr().to(device) for name in names}
    clips = 0
    for indices, video in batches:
        video = video.to(device)
        b, t = video.shape[:2]
        if t < 2:
            raise ValueError(f"next-frame PSNR needs clips of at least 2 frames, got {t}")
        actions = world.infer_actions(video)  # b (t-1)
        chance = random_actions(indices, 1, world.num_actions, seed + 1)[:, 0]
        sampling_seed = seed * SEED_STRIDE + int(indices[0])
        target = video[:, -1]
        for name, action in (("dynamics_inferred", actions[:, -1]), ("dynamics_random", chance)):
            world.reset(video[:, :-1], seed=sampling_seed)
            psnr[name].update(world.step(action).clamp(0, 1), target)
        psnr["copy_previous"].update(video[:, -2], target)
        psnr["tokenizer_ceiling"].update(world.tokenizer(video)[0][:, -1].clamp(0, 1), target)
        lam = world.lam.compute(video)
        psnr["lam"].update(_frames(lam.prediction.clamp(0, 1)), _frames(video[:, 1:]))
        psnr["lam_copy_previous"].update(_frames(video[:, :-1]), _frames(video[:, 1:]))
        clips += b
    return {**{f"psnr_{name}": float(metric.compute()) for name, metric in psnr.items()}, "clips": clips}


@torch.no_grad()
def rollout_metrics(world: Genie, batches: Batches, t: int, seed: int,
                    fvd: tuple[FrechetVideoDistance, str] | None = None) -> dict:
    """ΔtPSNR, and with ``fvd`` (metric and name from :func:`~genie_lit.metrics.build_fvd`)
    the FVD of the rollouts with inferred actions against the real clips."""
    device = world.device
    delta = DeltaPSNR(t=t).to(device)
    metric, name = fvd if fvd is not None else (None, None)
    if metric is not None:
        metric = metric.to(device)
    clips = 0
    for indices, real in batches:
        real = real.to(device)
        if real.shape[1] < t:
            raise ValueError(f"ΔtPSNR at t={t} needs clips of at least {t} frames, got {real.shape[1]} "
                             "(raise --clip-length or lower --t)")
        inferred, randomised = rollout_pair(world, real, indices, seed)
        delta.update(real, inferred, randomised)
        if metric is not None:
            metric.update(inferred, real=False)
            metric.update(real, real=True)
        clips += real.shape[0]
    out: dict = {"t": t, "clips": clips, **{k: float(v) for k, v in delta.compute().items()}}
    if metric is not None:
        out["fvd_name"] = name
        out["fvd_comparable"] = name == "fvd"
        out["fvd"] = float(metric.compute()) if clips >= 2 else None
    return out


@torch.no_grad()
def horizon_metrics(world: Genie, batches: Batches, seed: int, partners: dict[int, int]) -> dict:
    """The rollouts' horizon on real clips ``b T c h w``: rolled out from ``x_1`` as ΔtPSNR's pair
    (:func:`~genie_lit.models.world.rollout_pair`), scored frame by frame (:func:`rollout_horizon`);
    ``partners``: clip -> a clip of another scene of the same game
    (:func:`~genie_lit.evaluation.data.scene_partners`)."""
    device = world.device
    curves: dict[str, list[Tensor]] = {"inferred": [], "random": [], "copy_first": []}
    reals: dict[int, Tensor] = {}
    order: list[int] = []
    for indices, real in batches:
        real = real.to(device)
        inferred, randomised = rollout_pair(world, real, indices, seed)
        for curve, generated in (("inferred", inferred.clamp(0, 1)), ("random", randomised.clamp(0, 1)),
                                 ("copy_first", real[:, :1].expand_as(real))):
            curves[curve].append(frame_psnr(real, generated).cpu())
        reals.update({int(i): clip.cpu() for i, clip in zip(indices, real)})
        order += [int(i) for i in indices]
    partners = {i: j for i, j in partners.items() if i in reals and j in reals}
    other = [frame_psnr(reals[i], reals[partners[i]]) for i in order if i in partners]
    out = rollout_horizon({k: torch.cat(v) for k, v in curves.items()}, torch.stack(other) if other else None,
                          [i in partners for i in order])
    return {**out, "clips": len(order)}


def rollout_horizon(curves: dict[str, Tensor], other_scene: Tensor | None, has_partner: list[bool]) -> dict:
    """How long rollouts stay the clip's scene, from per-clip PSNR curves ``n T`` against the real
    clips (``curves``: ``inferred``, ``random``, ``copy_first``; ``other_scene``: a real clip of
    another scene of the same game against the real clip, for the clips flagged in ``has_partner``).

    ``recognisable_frames`` counts the frames from the prompt (frame 1) on during which the mean
    PSNR of the rollouts with inferred actions stays above the other scene's: up to then a rollout
    is closer to its own real continuation than a real frame of the same game elsewhere is; a
    rollout that dissolves into artefacts, or drifts into a generic scene, falls below it.
    ``recognisable_share_last``: the share of clips whose last frame is above its own partner's.
    """
    mean = {k: v.mean(dim=0) for k, v in curves.items()}
    frames = int(curves["inferred"].shape[1])
    out: dict = {"frames": frames, **{f"psnr_{k}": [round(float(x), 3) for x in v] for k, v in mean.items()}}
    if other_scene is None:
        return {**out, "psnr_other_scene": None, "recognisable_frames": None, "recognisable_share_last": None}
    mine = curves["inferred"][torch.tensor(has_partner)]
    reference, mean_inferred = other_scene.mean(dim=0), mine.mean(dim=0)
    above = mean_inferred > reference
    above[0] = True  # frame 1 is the prompt's reconstruction
    recognisable = frames if bool(above.all()) else int(above.int().argmin())
    return {**out, "psnr_other_scene": [round(float(x), 3) for x in reference],
            "psnr_inferred_with_partner": [round(float(x), 3) for x in mean_inferred],
            "recognisable_frames": recognisable, "clips_with_partner": int(mine.shape[0]),
            "recognisable_share_last": float((mine[:, -1] > other_scene[:, -1]).double().mean())}
