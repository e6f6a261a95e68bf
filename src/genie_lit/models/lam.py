"""The Genie latent action model (Bruce et al., 2024, §2.1 "Latent Action Model", Table 2).

A VQ-VAE over transitions. The encoder sees frames ``x_1..x_{t+1}`` (causally, through an
ST-transformer) and emits one continuous latent per transition; a tiny codebook (|A| = 8)
quantises it into the discrete latent action ``a_t``. The decoder sees ``x_1..x_t`` and
``a_1..a_t`` and predicts ``x_{t+1}``. Only the action codebook survives to play, where a user
picks the action index.

Guarding against collapse: a plain LAM on Atari ends with one code
per game, because the controllable sprite is a few pixels of a mostly static frame and the
nearest-code assignment follows whatever dominates the encoder's latent (the game). This LAM

1. feeds the encoder each frame *and its difference from the previous frame*, so motion is
   explicit in the input;
2. predicts ``x_{t+1}`` as a residual over ``x_t`` from the whole causal history, so the
   decoder can explain what the player does not control (ball, enemies) without the action;
3. by default (``assignment="search"``) assigns codes by *what they explain*, not by where the
   encoder's latent falls: a hard-EM step tries every code in the decoder's action head and
   gives each transition the code whose predicted next frame is best; the encoder learns to
   predict that code (a classifier over cosine similarities to the codebook, so play's
   nearest-code lookup agrees). Codes that win nothing are restarted beside a used code. The
   action enters after the decoder trunk, so trying all |A| codes costs |A| small head passes,
   not |A| decoders. Measured on a moving square with a bouncing distractor
   (``tests/test_lam_learning.py``) and on Atari (``benchmarks/lam_assignment.py``): NMI with the
   true actions several times that of ``"nearest"``;
4. ``assignment="nearest"`` is the classic VQ-VAE LAM, kept for comparison: straight-through
   nearest code, a continuous warm-up of ``warmup_steps`` and k-means seeding of the codebook;
5. optionally weights the loss on pixels that change between ``x_t`` and ``x_{t+1}``
   (``change_weight``).

Two levers from LAOM (Nikulin et al., ICML 2025), off by default: ``assignment="continuous"``
trains the decoder on the encoder's *continuous* latent (LAOM found quantisation hurt latent
actions) and keeps the |A| discrete actions for play as a head fitted beside it: the codebook
follows the detached latents (k-means seeding after ``warmup_steps``, then the codebook loss
and dead-code restarts), and a transition's action is its latent's nearest code.
``augment_shift`` > 0 translates each training clip by a random offset of up to that many pixels
(the same for all its frames).

Few-label supervision (``labelled_fraction``, off by default as in the paper): LAOM (Nikulin et
al., ICML 2025) supervises the latent actions with a few true labels. With ``labelled_fraction``
> 0 a small linear head on the continuous latent action predicts the true action, trained by
cross-entropy on the transitions of a fixed fraction of *episodes* (chosen by a seeded hash of
the episode id, :func:`labelled_episodes`; batches name their episodes under ``"episode"``, e.g.
from :class:`genie_lit.agents.EpisodeVideoDataModule`). With 0 the true actions are never read.
With ``search.anchor_labels`` the labels also enter the E-step: a labelled transition takes the
code of its true action (modulo |A|); ``search.unlabelled_weight`` = 0 then trains the encoder on
the labelled transitions alone (the unlabelled transitions' E-step codes pull the encoder away
from the true actions: ``benchmarks/lam_levers.py``, README "What makes the world learn").

With ``input_type="tokens"`` the encoder and decoder see the frozen tokenizer's code vectors
instead of pixels (the paper's Table 2 ablation); the target is still the next frame's pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics.image import PeakSignalNoiseRatio

from genie_lit.metrics.latent_actions import LatentActionAgreement
from genie_lit.models.base import GenieModule, as_hw, default_optimizer
from genie_lit.models.checkpoints import freeze, load_module
from genie_lit.models.lam_labels import FewLabelSupervision
from genie_lit.models.lam_options import FLAT_SEARCH_OPTIONS, SearchOptions, anchor_codes
from genie_lit.models.tokenizer import VideoTokenizer
from genie_lit.nn import (VectorQuantizer, VideoBackbone, balanced_assignment, grid_size, histogram_stats, patchify,
                          persistent_assignment, random_shift, unpatchify)


# fixed settings (options once; no config or test ever changed them)
CHANGE_THRESHOLD = 0.02  # a pixel "changes" when a channel moves more than this (in [0, 1])
WARMUP_NOISE = 0.2  # std of the noise on the unit-norm latent during the nearest LAM's warm-up
RESTART_NOISE = 0.05  # std of the noise on a restarted code (search)


@dataclass
class LAMOutput:
    loss: Tensor
    recon_loss: Tensor  # unweighted MSE of the predicted next frames
    prediction: Tensor  # b (t-1) c h w predicted frames x_2..x_t
    actions: Tensor  # b (t-1) latent action indices
    usage: Tensor
    perplexity: Tensor
    label_loss: Tensor | None = None  # few-label head's cross-entropy (labelled_fraction > 0)


class LatentActionModel(FewLabelSupervision, GenieModule):
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
        warmup_steps: training steps with a continuous bottleneck before the k-means-seeded VQ (nearest),
            or before the discrete head is k-means seeded (continuous).
        assignment: ``"search"`` (hard EM over the codebook, default; needs a ``VectorQuantizer``),
            ``"nearest"`` (classic VQ: the code nearest the encoder's latent) or ``"continuous"``
            (the decoder reads the continuous latent; the codebook is a discrete head beside it).
        search: the options of the ``search`` assignment (:class:`SearchOptions`; its defaults when
            omitted), e.g. ``search: {null_action_weight: 1.0}`` in a YAML.
        labelled_fraction: fraction of training episodes whose true actions train a small head on
            the latent action (few-label supervision, LAOM); 0 (default, the paper): unsupervised,
            true actions are never read.
        augment_shift: training clips are translated by up to this many pixels (0: off).
    """

    # options that older versions had, with the only value they were ever used with: a checkpoint that
    # carries one of them at that value still loads (models/checkpoints.py drops it)
    removed_options = {"change_threshold": CHANGE_THRESHOLD, "warmup_noise": WARMUP_NOISE, "pooling": "max",
                       "restart_noise": RESTART_NOISE, "context_transitions": 0}

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
        warmup_steps: int = 300,
        assignment: Literal["search", "nearest", "continuous"] = "search",
        search: SearchOptions | None = None,
        labelled_fraction: float = 0.0,
        augment_shift: int = 0,
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        search = SearchOptions(**search) if isinstance(search, dict) else (search or SearchOptions())
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.hparams["search"] = asdict(search)  # plain values in the checkpoint
        self.quantizer = quantizer if quantizer is not None else VectorQuantizer(codebook_size=8, dim=16)
        self.image_size, self.patch_size, self.channels = as_hw(image_size), patch_size, channels
        self.grid = grid_size(*self.image_size, patch_size)
        self.input_type, self.token_dim = input_type, token_dim
        self.change_weight, self.warmup_steps = change_weight, warmup_steps
        self.assignment, self.search = assignment, search
        if augment_shift < 0:
            raise ValueError(f"augment_shift must be >= 0 pixels, got {augment_shift}")
        self.augment_shift = augment_shift
        if search.inference == "search" and assignment != "search":
            raise ValueError(f"search.inference='search' reads the E-step, which needs assignment='search'; "
                             f"got assignment={assignment!r}")
        if search.anchor_labels and assignment != "search":
            raise ValueError(f"search.anchor_labels puts true actions into the E-step, which needs "
                             f"assignment='search'; got assignment={assignment!r}")
        if search.decoder_window is not None and assignment == "nearest":
            raise ValueError("search.decoder_window bounds the trunk of the search and continuous decoders; "
                             "assignment='nearest' has no trunk: drop decoder_window or change the assignment")
        self.encoder, self.decoder = encoder, decoder
        if assignment == "search" and not hasattr(self.quantizer, "track_usage"):
            raise ValueError(f"assignment='search' needs a VectorQuantizer (explicit codes); got "
                             f"{type(self.quantizer).__name__}: use assignment='nearest' with it")
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
        self.to_latent = nn.Linear(encoder.dim, self.quantizer.dim)
        self.decoder_embed = nn.Linear(frame_dim, decoder.dim)
        self.decoder_pos = nn.Parameter(torch.randn(num_patches, decoder.dim) * 0.02)
        self.action_embed = nn.Linear(self.quantizer.dim, decoder.dim)
        if assignment in ("search", "continuous"):  # the action enters after the trunk: a non-linear per-token head
            self.head = nn.Sequential(nn.LayerNorm(decoder.dim), nn.Linear(decoder.dim, search.head_hidden),
                                      nn.GELU(), nn.Linear(search.head_hidden, patch_dim))
        elif assignment == "nearest":  # the action is added to the decoder's input tokens
            self.head = nn.Linear(decoder.dim, patch_dim)
        else:
            raise ValueError(f"assignment must be 'search', 'nearest' or 'continuous', got {assignment!r}")
        last = self.head[-1] if isinstance(self.head, nn.Sequential) else self.head
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.labelled_fraction = 0.0
        self.set_labelled_fraction(labelled_fraction)
        self.register_buffer("steps_trained", torch.zeros((), dtype=torch.long))
        self._warmup_latents: list[Tensor] = []
        self.val_psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.val_agreement = LatentActionAgreement(self.num_actions)
        if input_type == "tokens" and tokenizer_ckpt is not None:
            self.attach_tokenizer(load_module(tokenizer_ckpt, VideoTokenizer, "tokenizer checkpoint"))

    @property
    def num_actions(self) -> int:
        return self.quantizer.codebook_size

    @property
    def action_inference(self) -> str:
        """How a real transition's latent action is read: ``"encoder"`` or ``"search"`` (the E-step)."""
        return self.search.inference if self.assignment == "search" else "encoder"

    @classmethod
    def upgrade_options(cls, init_args: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint's constructor options with the flat search options of earlier versions
        (``search_temperature``, ``head_hidden``, ``null_action_weight``, ``search_warmup_steps``,
        ``action_inference``) moved under ``search``."""
        flat = {field: init_args[key] for key, field in FLAT_SEARCH_OPTIONS.items() if key in init_args}
        if not flat:
            return init_args
        rest = {k: v for k, v in init_args.items() if k not in FLAT_SEARCH_OPTIONS}
        return {**rest, "search": {**(rest.get("search") or {}), **flat}}

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

    def encoder_tokens(self, video: Tensor, frames: Tensor | None = None, window: int | None = None) -> Tensor:
        """The encoder's features of every frame and patch, ``b t c h w`` -> ``b t n d``: frame ``t``
        with its difference from frame ``t-1``, causal in time (``window``: frames each frame attends
        back, for episodes longer than training clips)."""
        x = self._frames(video) if frames is None else frames
        diff = torch.cat((torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]), dim=1)
        return self.encoder(self.encoder_embed(torch.cat((x, diff), dim=-1)) + self.encoder_pos, window=window)

    def encode_latents(self, video: Tensor, frames: Tensor | None = None, window: int | None = None) -> Tensor:
        """Continuous latent of each transition: ``b t c h w`` -> ``b (t-1) e``; causal in time."""
        return self.latents_from_tokens(self.encoder_tokens(video, frames, window))

    def latents_from_tokens(self, tokens: Tensor) -> Tensor:
        """:meth:`encoder_tokens` ``b t n d`` -> the latent of each transition ``b (t-1) e``."""
        pooled = tokens[:, 1:].amax(dim=2)  # a small moving sprite lights up a few tokens: keep the strongest
        return self.to_latent(pooled)

    def infer_actions(self, video: Tensor, window: int | None = None) -> Tensor:
        """Latent action indices ``b (t-1)`` of a real clip ``b t c h w``."""
        with torch.no_grad():
            if self.action_inference == "search":
                previous, target = video[:, :-1], video[:, 1:]
                trunk = self.decode_trunk(previous, window=window)
                return self._search(trunk, previous, target, self._change_weight(previous, target))
            return self.quantizer(self.encode_latents(video, window=window)).indices

    @torch.no_grad()
    def _search(self, trunk: Tensor, previous: Tensor, target: Tensor, weight: Tensor) -> Tensor:
        """The E-step: for each transition the code whose predicted next frame is best, ``b t``."""
        codes = self.quantizer.codes()
        b, t = target.shape[:2]
        trunk = trunk.detach()
        errors = torch.stack([
            (weight * (self.decode_head(trunk, previous, code.expand(b, t, -1)) - target).pow(2)).mean((2, 3, 4))
            for code in codes
        ])  # K b t
        if not self.training:
            return errors.argmin(dim=0)
        if self.search.persistence > 0:
            return persistent_assignment(errors, self.search.persistence)
        return balanced_assignment(errors.reshape(len(codes), b * t), self.search.balance_iterations).reshape(b, t)

    def predict_next(self, video: Tensor, codes: Tensor, frames: Tensor | None = None) -> Tensor:
        """Frames ``x_1..x_{T-1}`` (``b t c h w``, T-1 of them) and action codes ``b (T-1) e``
        -> predicted ``x_2..x_T`` ``b (T-1) c h w``."""
        if self.assignment in ("search", "continuous"):
            return self.decode_head(self.decode_trunk(video, frames), video, codes)
        x = self._frames(video) if frames is None else frames
        h = self.decoder_embed(x) + self.decoder_pos + self.action_embed(codes)[:, :, None]
        residual = self.head(self.decoder(h))
        previous = patchify(video * 2 - 1, self.patch_size)
        return (unpatchify(previous + residual, self.patch_size, *self.image_size) + 1) / 2

    # ------------------------------------------------------------------------ objective
    def in_warmup(self) -> bool:
        return bool(self.steps_trained < self.warmup_steps)

    def compute(self, video: Tensor, actions: Tensor | None = None, episodes: Sequence[str] | None = None
                ) -> LAMOutput:
        """Loss and outputs for clips ``b t c h w`` (t >= 2). ``actions`` (``b (t-1)`` true actions)
        and ``episodes`` (``b`` ids) are used only with ``labelled_fraction`` > 0 (see :meth:`label_inputs`)."""
        if video.shape[1] < 2:
            raise ValueError(f"the latent action model needs clips of at least 2 frames, got {video.shape[1]}")
        if self.training and self.augment_shift > 0:
            video = random_shift(video, self.augment_shift)
        frames = self._frames(video)
        latents = self.encode_latents(video, frames)
        labelled = None
        if self.labelled_fraction > 0 and actions is not None and episodes is not None:
            labelled = self._labelled_mask(actions, episodes)
        if self.assignment == "search":
            anchors = None
            if labelled is not None and self.search.anchor_labels and self.training:
                anchors = torch.where(labelled, anchor_codes(actions, self.num_actions), -1)
            out = self._compute_search(video, frames, latents, anchors)
        else:
            out = {"nearest": self._compute_nearest, "continuous": self._compute_continuous}[self.assignment](
                video, frames, latents)
        if labelled is not None:
            out.label_loss = self._label_loss(latents, actions, labelled)
            out.loss = out.loss + out.label_loss
        return out

    def _compute_nearest(self, video: Tensor, frames: Tensor, latents: Tensor) -> LAMOutput:
        out = self.quantizer(latents)
        codes = out.quantized
        if self.training and self.in_warmup():
            codes = self.quantizer.relax(latents)
            codes = codes + WARMUP_NOISE * torch.randn_like(codes)
            self._collect_for_codebook(latents.detach())
        prediction = self.predict_next(video[:, :-1], codes, frames[:, :-1])
        target, previous = video[:, 1:], video[:, :-1]
        weight = self._change_weight(previous, target)
        error = (prediction - target).pow(2)
        recon_loss = error.mean()
        weighted = (weight * error).mean() / weight.mean()
        quantizer_loss = out.loss * (0.0 if self.in_warmup() else 1.0)  # keeps the codebook in the graph (DDP)
        if self.training:
            self.steps_trained += 1
        return LAMOutput(weighted + quantizer_loss, recon_loss, prediction, out.indices, out.usage, out.perplexity)

    def _compute_continuous(self, video: Tensor, frames: Tensor, latents: Tensor) -> LAMOutput:
        """The decoder learns from the continuous (unit-norm) latent; the codebook is a discrete
        head fitted to the detached latents, so it never shapes them (``assignment="continuous"``)."""
        previous, target = video[:, :-1], video[:, 1:]
        weight = self._change_weight(previous, target)
        trunk = self.decode_trunk(previous, frames[:, :-1])
        relaxed = self.quantizer.relax(latents)
        prediction = self.decode_head(trunk, previous, relaxed)
        error = (prediction - target).pow(2)
        loss = (weight * error).mean() / weight.mean()
        if self.search.null_action_weight > 0:  # the trunk alone explains what needs no action
            null = self.decode_head(trunk, previous, torch.zeros_like(relaxed))
            loss = loss + self.search.null_action_weight * (weight * (null - target).pow(2)).mean() / weight.mean()
        head = self.quantizer(latents.detach())  # gradients reach the codebook only
        if self.training:
            if self.in_warmup():
                self._collect_for_codebook(latents.detach())
            self.steps_trained += 1
        return LAMOutput(loss + head.loss, error.mean(), prediction, head.indices, head.usage, head.perplexity)

    def _change_weight(self, previous: Tensor, target: Tensor) -> Tensor:
        changed = (target - previous).abs().amax(dim=2, keepdim=True) > CHANGE_THRESHOLD
        return 1.0 + self.change_weight * changed.float()

    def _compute_search(self, video: Tensor, frames: Tensor, latents: Tensor, anchors: Tensor | None = None
                        ) -> LAMOutput:
        """Hard EM over the action codebook (``assignment="search"``).

        E-step: the decoder trunk runs once over ``x_1..x_t``; the small action head then predicts
        ``x_{t+1}`` with *every* code, and each transition is assigned the code whose prediction
        has the lowest (change-weighted) error. M-step: the decoder is trained on its assigned
        code, and the encoder to predict the assignment from ``x_1..x_{t+1}``: cross-entropy over
        the cosine similarities between its latent and the codes (so play's nearest-code lookup
        picks the same code). A code that wins no transition for ``restart_after_steps`` steps is
        restarted beside a used one (it splits that code's transitions). ``anchors`` (``b t``, with
        ``search.anchor_labels``): a labelled transition's code (>= 0) replaces its E-step's."""
        codes = self.quantizer.codes()
        previous, target = video[:, :-1], video[:, 1:]
        b, t = target.shape[:2]
        weight = self._change_weight(previous, target)
        trunk = self.decode_trunk(previous, frames[:, :-1])
        logits = F.normalize(latents, dim=-1) @ codes.t() / self.search.temperature
        if self.training and int(self.steps_trained) < self.search.warmup_steps:
            null = self.decode_head(trunk, previous, torch.zeros(b, t, codes.shape[1], device=video.device))
            loss = (weight * (null - target).pow(2)).mean() / weight.mean() + 0.0 * logits.sum()  # 0 * keeps DDP's graph
            self.steps_trained += 1
            chosen = logits.argmax(dim=-1)
            _, usage, perplexity = histogram_stats(chosen, codes.shape[0])
            return LAMOutput(loss, (null - target).pow(2).mean(), null, chosen, usage, perplexity)
        winner = self._search(trunk, previous, target, weight)
        if anchors is not None:
            winner = torch.where(anchors >= 0, anchors, winner)
        chosen = winner if self.action_inference == "search" else logits.argmax(dim=-1)
        # training follows the assignment; evaluation reports the inferred actions (the encoder's by default)
        prediction = self.decode_head(trunk, previous, codes[winner if self.training else chosen])
        error = (prediction - target).pow(2)
        weighted = (weight * error).mean() / weight.mean()
        if self.search.null_action_weight > 0:  # the trunk alone explains what needs no action
            null = self.decode_head(trunk, previous, torch.zeros_like(codes[winner]))
            weighted = weighted + self.search.null_action_weight * (weight * (null - target).pow(2)).mean() / weight.mean()
        encoder_loss = F.cross_entropy(logits.reshape(-1, codes.shape[0]), winner.reshape(-1), reduction="none")
        if anchors is not None and self.search.unlabelled_weight != 1.0:
            weights = torch.where(anchors.reshape(-1) >= 0, 1.0, self.search.unlabelled_weight)
            encoder_loss = (weights * encoder_loss).sum() / weights.sum().clamp_min(1.0)
        else:
            encoder_loss = encoder_loss.mean()
        if self.training:
            self.quantizer.track_usage(winner, codes[winner.reshape(-1)].detach(), noise=RESTART_NOISE)
            self.steps_trained += 1
        _, usage, perplexity = histogram_stats(chosen, codes.shape[0])
        return LAMOutput(weighted + encoder_loss, error.mean(), prediction, chosen, usage, perplexity)

    def decode_trunk(self, video: Tensor, frames: Tensor | None = None, window: int | None = None) -> Tensor:
        """Search decoder trunk: frames ``x_1..x_t`` -> features ``b t n d`` (no action yet), each
        frame seeing at most ``search.decoder_window`` frames (and ``window``, play's context)."""
        x = self._frames(video) if frames is None else frames
        limit = self.search.decoder_window
        window = limit if window is None else window if limit is None else min(window, limit)
        return self.decoder(self.decoder_embed(x) + self.decoder_pos, window=window)

    def decode_head(self, trunk: Tensor, video: Tensor, codes: Tensor) -> Tensor:
        """Search decoder head: trunk features and action codes ``b t e`` -> next frames ``b t c h w``."""
        residual = self.head(trunk + self.action_embed(codes)[:, :, None])
        previous = patchify(video * 2 - 1, self.patch_size)
        return (unpatchify(previous + residual, self.patch_size, *self.image_size) + 1) / 2

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
        self.check_labelled_episodes()

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        out = self.compute(batch["video"], **self.label_inputs(batch))
        logs = {"train/loss": out.loss, "train/recon_loss": out.recon_loss, "train/action_usage": out.usage,
                "train/action_perplexity": out.perplexity, "train/warmup": float(self.in_warmup())}
        if out.label_loss is not None:
            logs["train/label_loss"] = out.label_loss
        self.log_dict(logs, prog_bar=True, batch_size=batch["video"].shape[0])
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
