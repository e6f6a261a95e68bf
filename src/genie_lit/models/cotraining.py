"""Genie phase 2: co-training the latent action and dynamics models over a frozen tokenizer
(Bruce et al., 2024, §2.2 "Inference" and §3 "Training").

How gradients flow: the tokenizer is frozen (eval mode, ``requires_grad=False``, and
``train()`` cannot switch it back); it turns clips into tokens without a graph. The latent
action model (LAM) is trained by its own next-frame reconstruction loss only. The dynamics model
receives the LAM's *discrete* action indices (detached) and embeds them with its own table, so
the dynamics loss never reaches the LAM, as in the paper, where only the action codebook's
indices link the two. Both losses are summed (``lam_weight``, ``dynamics_weight``) and one
optimiser steps both models, whose parameters are disjoint.

Few-label supervision (``labelled_fraction``, off by default as in the paper): the LAM's small
head on the latent action also learns the true actions of a fixed fraction of training episodes
(see :mod:`genie_lit.models.lam`). With 0 no true action is read.
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
from genie_lit.models.tokenizer import VideoTokenizer

TOKENIZER_HPARAMS_KEY = "genie_lit_tokenizer_hyper_parameters"


class GenieCoTraining(GenieModule):
    """Trains ``lam`` and ``dynamics`` together on pixel clips over the frozen tokenizer.

    Args:
        lam: the latent action model (its ``num_actions`` must equal the dynamics').
        dynamics: the MaskGIT dynamics model (its ``vocab_size`` and ``grid`` must match the tokenizer).
        tokenizer_ckpt: checkpoint of a trained :class:`VideoTokenizer` (from ``genie-lit fit``).
        lam_weight, dynamics_weight: weights of the two losses.
        labelled_fraction: fraction of training episodes whose true actions supervise the LAM's
            latent actions through a small head (LAOM); ``None`` keeps the LAM's own setting
            (default 0: unsupervised, as in the paper).
    """

    def __init__(
        self,
        lam: LatentActionModel,
        dynamics: DynamicsModel,
        tokenizer_ckpt: str | None = None,
        lam_weight: float = 1.0,
        dynamics_weight: float = 1.0,
        labelled_fraction: float | None = None,
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        if lam.num_actions != dynamics.num_actions:
            raise ValueError(f"the latent action model has {lam.num_actions} actions but the dynamics model "
                             f"{dynamics.num_actions}; set dynamics num_actions to the LAM's codebook_size")
        self.lam, self.dynamics = lam, dynamics
        if labelled_fraction is not None:
            lam.set_labelled_fraction(labelled_fraction)
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

    def encode(self, video: Tensor) -> Tensor:
        """The frozen tokenizer's tokens ``b t h w`` of clips ``b t c h w``."""
        tokenizer = self._require_tokenizer()
        # the frozen tokenizer always encodes in float32: under bf16 autocast its nearest-code lookup
        # changes most tokens, and the dynamics would learn codes that play (float32) never shows it
        with torch.no_grad(), torch.autocast(video.device.type, enabled=False):
            return tokenizer.encode(video.float())

    def compute(self, video: Tensor, tokens: Tensor | None = None, **labels: Any) -> dict[str, Any]:
        """Losses for clips ``b t c h w``; ``tokens``: their tokens when known (else encoded here);
        ``labels`` (``actions``, ``episodes``) reach only the LAM's few-label head
        (:meth:`LatentActionModel.label_inputs`)."""
        if tokens is None:
            tokens = self.encode(video)
        lam_out = self.lam.compute(video, **labels)
        dyn_out = self.dynamics.compute(tokens, lam_out.actions.detach())
        loss = self.lam_weight * lam_out.loss + self.dynamics_weight * dyn_out.loss
        return {"loss": loss, "lam": lam_out, "dynamics": dyn_out}

    # ------------------------------------------------------------------------- Lightning
    def on_fit_start(self) -> None:
        self._require_tokenizer()
        self.check_data_resolution(self.lam.image_size)
        self.remember_clip_length()
        self.lam.check_labelled_episodes()

    def _log(self, out: dict[str, Any], stage: str, batch_size: int) -> None:
        lam, dyn = out["lam"], out["dynamics"]
        self.log_dict(
            {f"{stage}/loss": out["loss"], f"{stage}/lam_loss": lam.loss, f"{stage}/lam_recon_loss": lam.recon_loss,
             f"{stage}/dynamics_loss": dyn.loss, f"{stage}/token_accuracy": dyn.accuracy,
             f"{stage}/action_usage": lam.usage, f"{stage}/action_perplexity": lam.perplexity},
            prog_bar=stage == "train", batch_size=batch_size, sync_dist=stage != "train",
        )

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        out = self.compute(batch["video"], **self.lam.label_inputs(batch))
        self._log(out, "train", batch["video"].shape[0])
        if out["lam"].label_loss is not None:
            self.log("train/label_loss", out["lam"].label_loss, batch_size=batch["video"].shape[0])
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
