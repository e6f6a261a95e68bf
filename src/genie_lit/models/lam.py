"""The Genie latent action model (Bruce et al., 2024, §2.1 "Latent Action Model", Table 2).

A VQ-VAE over transitions. The encoder sees frames ``x_1..x_{t+1}`` (causally, through an
ST-transformer) and emits one continuous latent per transition; a tiny codebook (|A| = 8)
quantises it into the discrete latent action ``a_t``. The decoder sees ``x_1..x_t`` and
``a_1..a_t`` and predicts ``x_{t+1}``. Only the action codebook survives to play, where a user
picks the action index.

Guarding against collapse (see DESIGN.md "Calibration"): a plain LAM on Atari ends with one code
per game, because the controllable sprite is a few pixels of a mostly static frame. This LAM

1. feeds the encoder each frame *and its difference from the previous frame*, so motion is
   explicit in the input;
2. predicts ``x_{t+1}`` as a residual over ``x_t`` from the whole causal history, so the
   decoder can explain what the player does not control (ball, enemies) without the action;
3. weights the loss on pixels that change between ``x_t`` and ``x_{t+1}`` (``change_weight``),
   so the few pixels the action moves matter as much as the static background;
4. trains the bottleneck continuously (l2-normalised, with noise) for ``warmup_steps`` and then
   seeds the codebook by k-means on the encoder's latents, so every code starts on a populated
   mode of real transitions instead of dying at initialisation; dead codes are restarted after.

With ``input_type="tokens"`` the encoder and decoder see the frozen tokenizer's code vectors
instead of pixels (the paper's Table 2 ablation); the target is still the next frame's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics.image import PeakSignalNoiseRatio

from genie_lit.metrics.latent_actions import LatentActionAgreement
from genie_lit.models.base import GenieModule, as_hw, default_optimizer
from genie_lit.models.checkpoints import freeze, load_module
from genie_lit.models.tokenizer import VideoTokenizer
from genie_lit.nn import VectorQuantizer, VideoBackbone, grid_size, patchify, unpatchify


@dataclass
class LAMOutput:
    loss: Tensor
    recon_loss: Tensor  # unweighted MSE of the predicted next frames
    prediction: Tensor  # b (t-1) c h w predicted frames x_2..x_t
    actions: Tensor  # b (t-1) latent action indices
    usage: Tensor
    perplexity: Tensor


class LatentActionModel(GenieModule):
    """Latent action VQ-VAE over pixel (or token) transitions.

    Args:
        encoder: causal backbone over frames ``x_1..x_T`` (e.g. ``STTransformer``).
        decoder: causal backbone over frames ``x_1..x_{T-1}`` plus their actions.
        quantizer: the action codebook; its ``codebook_size`` is the number of latent actions.
        image_size, patch_size, channels: frame geometry.
        input_type: ``"pixels"`` (paper default) or ``"tokens"`` (the tokenizer comes from
            ``tokenizer_ckpt`` or, inside :class:`~genie_lit.models.GenieCoTraining`, from its tokenizer).
        tokenizer_ckpt: frozen tokenizer for the token-input ablation trained on its own.
        token_dim: code dimension of that tokenizer (checked when it is attached).
        change_weight: extra loss weight of pixels that change between consecutive frames.
        change_threshold: a pixel "changes" when any channel moves more than this (in [0, 1]).
        warmup_steps: training steps with a continuous bottleneck before the k-means-seeded VQ.
        warmup_noise: std of the noise added to the unit-norm latent during warm-up.
        pooling: how a frame's encoder tokens become one latent: ``"max"`` (default), ``"mean"`` or
            ``"attention"``.
    """

    def __init__(
        self,
        encoder: VideoBackbone,
        decoder: VideoBackbone,
        quantizer: nn.Module | None = None,
        image_size: int | tuple[int, int] = 64,
        patch_size: int = 8,
        channels: int = 3,
        input_type: Literal["pixels", "tokens"] = "pixels",
        tokenizer_ckpt: str | None = None,
        token_dim: int = 32,
        change_weight: float = 10.0,
        change_threshold: float = 0.02,
        warmup_steps: int = 300,
        warmup_noise: float = 0.2,
        pooling: Literal["max", "mean", "attention"] = "max",
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.quantizer = quantizer if quantizer is not None else VectorQuantizer(codebook_size=8, dim=16)
        self.image_size, self.patch_size, self.channels = as_hw(image_size), patch_size, channels
        self.grid = grid_size(*self.image_size, patch_size)
        self.input_type, self.token_dim = input_type, token_dim
        self.change_weight, self.change_threshold = change_weight, change_threshold
        self.warmup_steps, self.warmup_noise = warmup_steps, warmup_noise
        self.pooling = pooling
        self.encoder, self.decoder = encoder, decoder
        num_patches, patch_dim = self.grid[0] * self.grid[1], channels * patch_size**2
        self._tokenizer: list[VideoTokenizer] = []  # a list keeps it out of state_dict and parameters
        if input_type == "tokens":
            frame_dim = token_dim
        elif input_type == "pixels":
            frame_dim = patch_dim
        else:
            raise ValueError(f"input_type must be 'pixels' or 'tokens', got {input_type!r}")
        self.encoder_embed = nn.Linear(2 * frame_dim, encoder.dim)
        self.encoder_pos = nn.Parameter(torch.randn(num_patches, encoder.dim) * 0.02)
        self.pool = nn.Linear(encoder.dim, 1) if pooling == "attention" else None
        self.to_latent = nn.Linear(encoder.dim, self.quantizer.dim)
        self.decoder_embed = nn.Linear(frame_dim, decoder.dim)
        self.decoder_pos = nn.Parameter(torch.randn(num_patches, decoder.dim) * 0.02)
        self.action_embed = nn.Linear(self.quantizer.dim, decoder.dim)
        self.head = nn.Linear(decoder.dim, patch_dim)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("steps_trained", torch.zeros((), dtype=torch.long))
        self._warmup_latents: list[Tensor] = []
        self.val_psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.val_agreement = LatentActionAgreement(self.num_actions)
        if input_type == "tokens" and tokenizer_ckpt is not None:
            self.attach_tokenizer(load_module(tokenizer_ckpt, VideoTokenizer, "tokenizer checkpoint"))

    @property
    def num_actions(self) -> int:
        return self.quantizer.codebook_size

    def attach_tokenizer(self, tokenizer: VideoTokenizer) -> None:
        """Use ``tokenizer`` (frozen, not owned) for token inputs."""
        if self.input_type == "tokens" and tokenizer.quantizer.dim != self.token_dim:
            raise ValueError(f"the tokenizer's codes have dim {tokenizer.quantizer.dim} but the latent action "
                             f"model was built for token_dim={self.token_dim}; set lam token_dim to match")
        self._tokenizer[:] = [freeze(tokenizer)]

    # ---------------------------------------------------------------------------- inputs
    def _frames(self, video: Tensor) -> Tensor:
        """``b t c h w`` in [0, 1] -> per-frame features ``b t n f`` (patches or token codes)."""
        if self.input_type == "pixels":
            return patchify(video * 2 - 1, self.patch_size)
        if not self._tokenizer:
            raise RuntimeError("input_type='tokens' needs a tokenizer: pass tokenizer_ckpt (or co-train it)")
        tokenizer = self._tokenizer[0].to(video.device)
        with torch.no_grad():
            return tokenizer.quantize(video).quantized

    def encode_latents(self, video: Tensor, frames: Tensor | None = None, window: int | None = None) -> Tensor:
        """Continuous latent of each transition: ``b t c h w`` -> ``b (t-1) e``; causal in time
        (``window``: frames each frame attends back, for episodes longer than training clips)."""
        x = self._frames(video) if frames is None else frames
        diff = torch.cat((torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]), dim=1)
        h = self.encoder(self.encoder_embed(torch.cat((x, diff), dim=-1)) + self.encoder_pos, window=window)[:, 1:]
        if self.pooling == "max":  # a small moving sprite lights up a few tokens: keep the strongest
            pooled = h.amax(dim=2)
        elif self.pooling == "mean":
            pooled = h.mean(dim=2)
        else:
            pooled = (self.pool(h).softmax(dim=2) * h).sum(dim=2)  # attention pooling
        return self.to_latent(pooled)

    def infer_actions(self, video: Tensor, window: int | None = None) -> Tensor:
        """Latent action indices ``b (t-1)`` of a real clip ``b t c h w``."""
        with torch.no_grad():
            return self.quantizer(self.encode_latents(video, window=window)).indices

    def predict_next(self, video: Tensor, codes: Tensor, frames: Tensor | None = None) -> Tensor:
        """Frames ``x_1..x_{T-1}`` (``b t c h w``, T-1 of them) and action codes ``b (T-1) e``
        -> predicted ``x_2..x_T`` ``b (T-1) c h w``."""
        x = self._frames(video) if frames is None else frames
        h = self.decoder_embed(x) + self.decoder_pos + self.action_embed(codes)[:, :, None]
        residual = self.head(self.decoder(h))
        previous = patchify(video * 2 - 1, self.patch_size)
        return (unpatchify(previous + residual, self.patch_size, *self.image_size) + 1) / 2

    # ------------------------------------------------------------------------ objective
    def in_warmup(self) -> bool:
        return bool(self.steps_trained < self.warmup_steps)

    def compute(self, video: Tensor) -> LAMOutput:
        """Loss and outputs for clips ``b t c h w`` (t >= 2)."""
        if video.shape[1] < 2:
            raise ValueError(f"the latent action model needs clips of at least 2 frames, got {video.shape[1]}")
        frames = self._frames(video)
        latents = self.encode_latents(video, frames)
        out = self.quantizer(latents)
        codes = out.quantized
        if self.training and self.in_warmup():
            codes = self.quantizer.relax(latents)
            codes = codes + self.warmup_noise * torch.randn_like(codes)
            self._collect_for_codebook(latents.detach())
        prediction = self.predict_next(video[:, :-1], codes, frames[:, :-1])
        target, previous = video[:, 1:], video[:, :-1]
        changed = (target - previous).abs().amax(dim=2, keepdim=True) > self.change_threshold
        weight = 1.0 + self.change_weight * changed.float()
        error = (prediction - target).pow(2)
        recon_loss = error.mean()
        weighted = (weight * error).mean() / weight.mean()
        quantizer_loss = out.loss * (0.0 if self.in_warmup() else 1.0)  # keeps the codebook in the graph (DDP)
        if self.training:
            self.steps_trained += 1
        return LAMOutput(weighted + quantizer_loss, recon_loss, prediction, out.indices, out.usage, out.perplexity)

    @torch.no_grad()
    def _collect_for_codebook(self, latents: Tensor) -> None:
        """Keep recent warm-up latents; at the end of warm-up seed the codebook by k-means."""
        self._warmup_latents.append(latents.reshape(-1, latents.shape[-1]).float().cpu())
        self._warmup_latents = self._warmup_latents[-64:]
        if int(self.steps_trained) + 1 == self.warmup_steps and hasattr(self.quantizer, "init_from"):
            samples = torch.cat(self._warmup_latents)[-4096:].to(latents.device)
            self.quantizer.init_from(samples)
            self._warmup_latents = []

    # ------------------------------------------------------------------------- Lightning
    def on_fit_start(self) -> None:
        self.check_data_resolution(self.image_size)
        self.remember_clip_length()

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        out = self.compute(batch["video"])
        self.log_dict(
            {"train/loss": out.loss, "train/recon_loss": out.recon_loss, "train/action_usage": out.usage,
             "train/action_perplexity": out.perplexity, "train/warmup": float(self.in_warmup())},
            prog_bar=True, batch_size=batch["video"].shape[0],
        )
        return out.loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        out = self.compute(batch["video"])
        bs = batch["video"].shape[0]
        self.val_psnr(rearrange(out.prediction.clamp(0, 1), "b t c h w -> (b t) c h w"),
                      rearrange(batch["video"][:, 1:], "b t c h w -> (b t) c h w"))
        self.val_agreement.update(out.actions, batch["actions"], batch["game"])
        self.log_dict({"val/loss": out.loss, "val/recon_loss": out.recon_loss, "val/action_usage": out.usage,
                       "val/action_perplexity": out.perplexity}, batch_size=bs, sync_dist=True)
        self.log("val/psnr", self.val_psnr, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        log_agreement(self, self.val_agreement)


def log_agreement(module: GenieModule, agreement: LatentActionAgreement, prefix: str = "val") -> None:
    """Log ``{prefix}/action_nmi`` when the validation clips carried true actions; reset on every rank."""
    result = agreement.compute()
    if result["transitions"] > 0:
        module.log(f"{prefix}/action_nmi", result["nmi"], prog_bar=True)
    agreement.reset()
