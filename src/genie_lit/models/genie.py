"""Genie phase 2: co-training the latent action and dynamics models over a frozen tokenizer
(Bruce et al., 2024, §2.2 "Inference" and §3 "Training").

How gradients flow: the tokenizer is frozen (eval mode, ``requires_grad=False``, and
``train()`` cannot switch it back); it turns clips into tokens without a graph. The latent
action model (LAM) is trained by its own next-frame reconstruction loss only. The dynamics model
receives the LAM's *discrete* action indices (detached) and embeds them with its own table, so
the dynamics loss never reaches the LAM, as in the paper, where only the action codebook's
indices link the two. Both losses are summed (``lam_weight``, ``dynamics_weight``) and one
optimiser steps both models, whose parameters are disjoint.
"""

from __future__ import annotations

from typing import Any

import torch
from einops import rearrange
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor
from torchmetrics.image import PeakSignalNoiseRatio

from genie_lit.metrics.latent_actions import LatentActionAgreement
from genie_lit.models.base import GenieModule, default_optimizer
from genie_lit.models.checkpoints import CheckpointError, freeze, load_module
from genie_lit.models.dynamics import DynamicsModel
from genie_lit.models.lam import LatentActionModel, log_agreement
from genie_lit.models.maskgit import maskgit_sample
from genie_lit.models.tokenizer import VideoTokenizer

TOKENIZER_HPARAMS_KEY = "genie_lit_tokenizer_hyper_parameters"


class GenieCoTraining(GenieModule):
    """Trains ``lam`` and ``dynamics`` together on pixel clips over the frozen tokenizer.

    Args:
        lam: the latent action model (its ``num_actions`` must equal the dynamics').
        dynamics: the MaskGIT dynamics model (its ``vocab_size`` and ``grid`` must match the tokenizer).
        tokenizer_ckpt: checkpoint of a trained :class:`VideoTokenizer` (from ``genie-lit fit``).
        lam_weight, dynamics_weight: weights of the two losses.
    """

    def __init__(
        self,
        lam: LatentActionModel,
        dynamics: DynamicsModel,
        tokenizer_ckpt: str | None = None,
        lam_weight: float = 1.0,
        dynamics_weight: float = 1.0,
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        if lam.num_actions != dynamics.num_actions:
            raise ValueError(f"the latent action model has {lam.num_actions} actions but the dynamics model "
                             f"{dynamics.num_actions}; set dynamics num_actions to the LAM's codebook_size")
        self.lam, self.dynamics = lam, dynamics
        self.lam_weight, self.dynamics_weight = lam_weight, dynamics_weight
        self.tokenizer: VideoTokenizer | None = None
        if tokenizer_ckpt is not None:
            self.set_tokenizer(load_module(tokenizer_ckpt, VideoTokenizer, "tokenizer checkpoint"))
        self.val_psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.val_agreement = LatentActionAgreement(lam.num_actions)

    def set_tokenizer(self, tokenizer: VideoTokenizer) -> None:
        """Install the frozen tokenizer after checking it fits the LAM and dynamics configs."""
        check_compatible(tokenizer, self.lam, self.dynamics)
        self.tokenizer = freeze(tokenizer)
        if self.lam.input_type == "tokens":
            self.lam.attach_tokenizer(tokenizer)

    def train(self, mode: bool = True) -> GenieCoTraining:
        super().train(mode)
        if self.tokenizer is not None:
            self.tokenizer.eval()  # frozen: stays in eval through trainer.fit's train()
        return self

    def _require_tokenizer(self) -> VideoTokenizer:
        if self.tokenizer is None:
            raise CheckpointError("co-training needs a trained tokenizer: pass --model.init_args.tokenizer_ckpt PATH")
        return self.tokenizer

    def compute(self, video: Tensor) -> dict[str, Any]:
        tokenizer = self._require_tokenizer()
        # the frozen tokenizer always encodes in float32: under bf16 autocast its nearest-code lookup
        # changes most tokens, and the dynamics would learn codes that play (float32) never shows it
        with torch.no_grad(), torch.autocast(video.device.type, enabled=False):
            tokens = tokenizer.encode(video.float())
        lam_out = self.lam.compute(video)
        dyn_out = self.dynamics.compute(tokens, lam_out.actions.detach())
        loss = self.lam_weight * lam_out.loss + self.dynamics_weight * dyn_out.loss
        return {"loss": loss, "lam": lam_out, "dynamics": dyn_out}

    # ------------------------------------------------------------------------- Lightning
    def on_fit_start(self) -> None:
        self._require_tokenizer()
        self.check_data_resolution(self.lam.image_size)
        self.remember_clip_length()

    def _log(self, out: dict[str, Any], stage: str, batch_size: int) -> None:
        lam, dyn = out["lam"], out["dynamics"]
        self.log_dict(
            {f"{stage}/loss": out["loss"], f"{stage}/lam_loss": lam.loss, f"{stage}/lam_recon_loss": lam.recon_loss,
             f"{stage}/dynamics_loss": dyn.loss, f"{stage}/token_accuracy": dyn.accuracy,
             f"{stage}/action_usage": lam.usage, f"{stage}/action_perplexity": lam.perplexity},
            prog_bar=stage == "train", batch_size=batch_size, sync_dist=stage != "train",
        )

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        out = self.compute(batch["video"])
        self._log(out, "train", batch["video"].shape[0])
        return out["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        video = batch["video"]
        out = self.compute(video)
        self._log(out, "val", video.shape[0])
        self.val_psnr(rearrange(out["lam"].prediction.clamp(0, 1), "b t c h w -> (b t) c h w"),
                      rearrange(video[:, 1:], "b t c h w -> (b t) c h w"))
        self.log("val/lam_psnr", self.val_psnr)
        self.val_agreement.update(out["lam"].actions, batch["actions"], batch["game"])

    def on_validation_epoch_end(self) -> None:
        log_agreement(self, self.val_agreement)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # the tokenizer's plain config travels with its weights, so the world loads from this file alone
        checkpoint[TOKENIZER_HPARAMS_KEY] = dict(self._require_tokenizer().hparams)


def check_compatible(tokenizer: VideoTokenizer, lam: LatentActionModel, dynamics: DynamicsModel) -> None:
    """Refuse a tokenizer whose codebook, grid or resolution disagrees with the configs."""
    if tokenizer.codebook_size != dynamics.vocab_size:
        raise CheckpointError(f"the tokenizer has {tokenizer.codebook_size} codes but the dynamics model was "
                              f"configured with vocab_size={dynamics.vocab_size}; set them equal")
    if tuple(tokenizer.grid) != tuple(dynamics.grid):
        raise CheckpointError(f"the tokenizer makes a {tuple(tokenizer.grid)} token grid per frame but the dynamics "
                              f"model was configured with grid={tuple(dynamics.grid)}; set them equal")
    if tuple(tokenizer.image_size) != tuple(lam.image_size):
        raise CheckpointError(f"the tokenizer works at resolution {tuple(tokenizer.image_size)} but the latent action "
                              f"model was configured with image_size={tuple(lam.image_size)}; set them equal")


class Genie(torch.nn.Module):
    """The playable world: prompt it with frames, then step it with latent actions.

    Built from a co-training checkpoint with :meth:`from_checkpoint`. ``reset(prompt)`` takes one
    or more frames (``c h w``, ``t c h w`` or ``b t c h w``, float in [0, 1] or uint8, any size:
    they are resized), ``step(action)`` returns the next frame, ``rollout(actions)`` a clip, and
    ``infer_actions(clip)`` the LAM's actions for a real clip.

    Each new frame is decoded by MaskGIT (``maskgit_steps``, ``temperature``) against an exact
    temporal KV cache of the frames already generated, so each step runs only the new frame's
    tokens. Beyond ``context_length`` frames (default: the dynamics model's training clip length)
    the cache slides, every frame attending to the last ``context_length`` frames.
    ``use_cache=False`` recomputes the whole context at every MaskGIT step instead (for checks
    and benchmarks); within ``context_length`` frames the two agree exactly. Beyond it the cache
    equals the dynamics over the whole history with an attention window of ``context_length``
    (``DynamicsModel(..., window=...)``), while ``use_cache=False`` recomputes the last frames alone.
    """

    def __init__(self, tokenizer: VideoTokenizer, lam: LatentActionModel, dynamics: DynamicsModel,
                 context_length: int | None = None, maskgit_steps: int = 8, temperature: float = 1.0,
                 remask_noise: float = 0.0, use_cache: bool = True, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        check_compatible(tokenizer, lam, dynamics)
        self.tokenizer, self.lam, self.dynamics = tokenizer, lam, dynamics  # not frozen: callbacks use live modules
        self.context_length = context_length or int(dynamics.context_frames) or 16
        self.decoder_context = int(tokenizer.context_frames) or self.context_length
        self.maskgit_steps, self.temperature, self.remask_noise = maskgit_steps, temperature, remask_noise
        self.use_cache, self.dtype = use_cache, dtype
        self._state: dict[str, Any] | None = None

    @classmethod
    def from_checkpoint(cls, path: str, map_location: str | torch.device = "cpu", **kwargs: Any) -> Genie:
        """A world from a ``GenieCoTraining`` checkpoint (tokenizer included; no pickled code runs)."""
        from genie_lit.models.checkpoints import build_from_checkpoint, read_checkpoint

        checkpoint = read_checkpoint(path, "world checkpoint")
        if TOKENIZER_HPARAMS_KEY not in checkpoint:
            raise CheckpointError(f"world checkpoint {path} is not a co-training checkpoint (no tokenizer inside); "
                                  "train one with `genie-lit fit --config configs/genie/cotrain.yaml`")
        tokenizer_ckpt = {"hyper_parameters": checkpoint[TOKENIZER_HPARAMS_KEY], "state_dict": {
            k[len("tokenizer."):]: v for k, v in checkpoint["state_dict"].items() if k.startswith("tokenizer.")}}
        tokenizer = build_from_checkpoint(tokenizer_ckpt, VideoTokenizer, path, "tokenizer inside")
        checkpoint["hyper_parameters"] = {**checkpoint["hyper_parameters"], "tokenizer_ckpt": None}
        state = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("tokenizer.")}
        cotrain = build_from_checkpoint({**checkpoint, "state_dict": state}, GenieCoTraining, path, "world checkpoint")
        world = cls(freeze(tokenizer), freeze(cotrain.lam), freeze(cotrain.dynamics), **kwargs)
        return world.to(map_location)

    # ------------------------------------------------------------------------ properties
    @property
    def num_actions(self) -> int:
        return self.dynamics.num_actions

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.tokenizer.image_size)

    @property
    def device(self) -> torch.device:
        return self.dynamics.pos_embed.device

    @property
    def frame_index(self) -> int:
        """Index of the next frame to generate (number of frames so far)."""
        return 0 if self._state is None else self._state["position"]

    # ------------------------------------------------------------------------------ play
    def prepare(self, frames: Any) -> Tensor:
        """Any frames -> ``b t c h w`` float in [0, 1] at the world's resolution, on its device."""
        video = torch.as_tensor(frames)
        if video.dtype == torch.uint8:
            video = video.float() / 255
        video = video.float()
        if video.ndim == 3:
            video = video[None]
        if video.ndim == 4:
            video = video[None]
        if video.ndim != 5:
            raise ValueError(f"frames must be (c h w), (t c h w) or (b t c h w); got shape {tuple(video.shape)}")
        if video.shape[2] != self.tokenizer.channels and video.shape[-1] == self.tokenizer.channels:
            video = rearrange(video, "b t h w c -> b t c h w")  # channels-last arrays (images, video frames)
        if video.shape[2] == 1:
            video = video.expand(-1, -1, 3, -1, -1)
        if tuple(video.shape[-2:]) != self.image_size:
            b = video.shape[0]
            flat = rearrange(video, "b t c h w -> (b t) c h w")
            flat = torch.nn.functional.interpolate(flat, size=self.image_size, mode="area"
                                                   if flat.shape[-1] >= self.image_size[1] else "bilinear")
            video = rearrange(flat, "(b t) c h w -> b t c h w", b=b)
        return video.clamp(0, 1).to(self.device)

    def _autocast(self):
        if self.dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.dtype)

    @torch.no_grad()
    def reset(self, prompt: Any, seed: int | None = None, actions: Any | None = None) -> Tensor:
        """Start a new episode from ``prompt`` frames; returns the world's rendition of the last one.
        The actions between prompt frames are the LAM's unless given (``b (t-1)``, e.g. the
        recorded true actions for a world whose dynamics learned those)."""
        video = self.prepare(prompt)[:, -self.context_length:]
        b, t = video.shape[:2]
        with self._autocast():
            tokens = self.tokenizer.encode(video).reshape(b, t, -1)
            if actions is not None:
                actions = torch.as_tensor(actions, device=self.device).long().reshape(b, -1)[:, -(t - 1):][:, :t - 1]
            elif t > 1:
                actions = self.lam.infer_actions(video)
            else:
                actions = video.new_zeros(b, 0, dtype=torch.long)
            into = self.dynamics.actions_into_frames(actions)
            dyn_cache = self.dynamics.backbone.new_cache(window=self.context_length)
            dec_cache = self.tokenizer.decoder.new_cache(window=self.decoder_context)
            positions = torch.arange(t, device=self.device)
            if self.use_cache:
                self.dynamics(tokens, into, positions=positions, cache=dyn_cache, commit=True)
            frames = self.tokenizer.decode(tokens.reshape(b, t, *self.tokenizer.grid), cache=dec_cache,
                                           positions=positions, commit=True)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31, (1,))))
        self._state = {"position": t, "tokens": tokens, "actions": into, "dyn_cache": dyn_cache,
                       "dec_cache": dec_cache, "generator": generator, "batched": torch.as_tensor(prompt).ndim == 5}
        return self._output(frames[:, -1])

    def _output(self, frames: Tensor) -> Tensor:
        return frames.float() if self._state["batched"] else frames[0].float()

    def _actions(self, action: Any, batch: int) -> Tensor:
        action = torch.as_tensor(action, device=self.device).long().reshape(-1)
        if action.numel() == 1:
            action = action.expand(batch)
        if action.numel() != batch:
            raise ValueError(f"got {action.numel()} actions for a batch of {batch} worlds")
        self.dynamics.check_actions(action)
        return action

    @torch.no_grad()
    def step(self, action: Any) -> Tensor:
        """Generate the next frame entered by ``action`` (int, or one per batch element) in 0..A-1."""
        if self._state is None:
            raise RuntimeError("call reset(prompt) before step(action)")
        s = self._state
        b, position = s["tokens"].shape[0], s["position"]
        action = self._actions(action, b)
        with self._autocast():
            if self.use_cache:
                logits_fn = lambda tok: self.dynamics.frame_logits(  # noqa: E731
                    tok, action, position, s["dyn_cache"], previous=s["tokens"][:, -1])
            else:
                logits_fn = lambda tok: self._recompute_logits(tok, action)  # noqa: E731
            new = maskgit_sample(logits_fn, b, self.dynamics.tokens_per_frame, self.dynamics.mask_id,
                                 self.maskgit_steps, self.temperature, self.remask_noise, s["generator"], self.device)
            if self.use_cache:
                self.dynamics.frame_logits(new, action, position, s["dyn_cache"], commit=True)
            keep = self.context_length - 1
            s["tokens"] = torch.cat((s["tokens"][:, -keep:] if keep else s["tokens"][:, :0], new[:, None]), dim=1)
            s["actions"] = torch.cat((s["actions"][:, -keep:] if keep else s["actions"][:, :0], action[:, None]), dim=1)
            grid = new.reshape(b, 1, *self.tokenizer.grid)
            if self.use_cache:
                frame = self.tokenizer.decode(grid, cache=s["dec_cache"], positions=torch.tensor([position],
                                              device=self.device), commit=True)[:, 0]
            else:
                context = s["tokens"][:, -self.decoder_context:].reshape(b, -1, *self.tokenizer.grid)
                frame = self.tokenizer.decode(context)[:, -1]
        s["position"] = position + 1
        return self._output(frame)

    def _recompute_logits(self, new_tokens: Tensor, action: Tensor) -> Tensor:
        """No cache: run the dynamics over the last ``context_length`` frames and the new one."""
        s = self._state
        keep = self.context_length - 1
        tokens = torch.cat((s["tokens"][:, -keep:] if keep else s["tokens"][:, :0], new_tokens[:, None]), dim=1)
        actions = torch.cat((s["actions"][:, -keep:] if keep else s["actions"][:, :0], action[:, None]), dim=1)
        return self.dynamics(tokens, actions)[:, -1]

    @torch.no_grad()
    def rollout(self, actions: Any, prompt: Any | None = None, seed: int | None = None) -> Tensor:
        """Frames for each action (``T c h w``, or ``b T c h w`` for batched prompts); with a
        ``prompt`` the world is reset first."""
        if prompt is not None:
            self.reset(prompt, seed=seed)
        actions = torch.as_tensor(actions)
        steps = actions.shape[-1] if actions.ndim else 1
        frames = [self.step(actions[..., i] if actions.ndim else actions) for i in range(steps)]
        return torch.stack(frames, dim=-4)

    @torch.no_grad()
    def infer_actions(self, clip: Any) -> Tensor:
        """The LAM's latent actions ``(t-1)`` (or ``b (t-1)``) for a real clip."""
        video = self.prepare(clip)
        actions = self.lam.infer_actions(video)
        return actions if torch.as_tensor(clip).ndim == 5 else actions[0]
