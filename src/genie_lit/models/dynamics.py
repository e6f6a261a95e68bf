"""The Genie dynamics model (Bruce et al., 2024, §2.1 "Dynamics Model").

A decoder-only MaskGIT transformer over video tokens: given tokens ``z_1..z_t`` and latent
actions ``a_1..a_{t-1}``, it predicts the tokens of every frame, frame ``t`` seeing only frames
``<= t`` through the causal ST-transformer. The action ``a_{t-1}`` (the transition into frame
``t``) conditions frame ``t`` either additively (paper) or as an extra token prepended to the
frame's spatial sequence. Training masks, per sample, a rate ``r ~ U(0.5, 1)`` of the tokens of
frames ``2..T`` and scores cross-entropy on the masked tokens only.

At play time the model runs on one new frame at a time against an exact temporal KV cache of the
committed frames (:meth:`DynamicsModel.frame_logits`).

Two options depart from the paper, both off by default:

- ``copy_prior``: most of a game frame does not change, so the logit of the token that the
  previous frame had at the same position gets a learned, per-token bonus (a gate read off the
  transformer's features, initialised to ``copy_init``). The model starts as "copy the last
  frame" and learns where things move, instead of first learning to reproduce the static scene.
  On in the shipped configs (its effect: ``benchmarks/results/world_levers.json``).
- ``change_weight``: the cross-entropy of masked tokens that differ from the previous frame's
  token at the same position is weighted ``1 + change_weight`` (the tokens that carry motion,
  and so the action, are a few percent of a frame). Not measured yet; off in the shipped configs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from genie_lit.models.base import GenieModule, default_optimizer
from genie_lit.nn import KVCache, VideoBackbone


@dataclass
class DynamicsOutput:
    loss: Tensor
    accuracy: Tensor  # argmax accuracy on masked tokens
    logits: Tensor  # b t n V


class DynamicsModel(GenieModule):
    """MaskGIT dynamics over tokens ``b t h' w'`` conditioned on discrete actions ``b (t-1)``.

    Args:
        backbone: causal video backbone (``STTransformer`` for the paper's model).
        vocab_size: tokenizer codebook size; id ``vocab_size`` is the mask token.
        grid: tokens per frame as ``(h', w')``; must match the tokenizer.
        num_actions: latent action codebook size (the LAM's), or the number of true actions.
        action_conditioning: ``"additive"`` (paper) or ``"prepend"``.
        mask_rate: range of the per-sample mask rate during training (paper: 0.5..1).
        label_smoothing: cross-entropy label smoothing.
        copy_prior: add a learned, per-token bonus to the logit of the previous frame's token at
            the same position (see the module docstring).
        copy_init: the bonus at initialisation (the gate's bias), in logits.
        change_weight: extra loss weight of masked tokens that differ from the previous frame's.
    """

    def __init__(
        self,
        backbone: VideoBackbone,
        vocab_size: int = 1024,
        grid: tuple[int, int] = (8, 8),
        num_actions: int = 8,
        action_conditioning: Literal["additive", "prepend"] = "additive",
        mask_rate: tuple[float, float] = (0.5, 1.0),
        label_smoothing: float = 0.0,
        copy_prior: bool = False,
        copy_init: float = 4.0,
        change_weight: float = 0.0,
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        if action_conditioning not in ("additive", "prepend"):
            raise ValueError(f"action_conditioning must be 'additive' or 'prepend', got {action_conditioning!r}")
        self.backbone = backbone
        self.vocab_size, self.grid, self.num_actions = vocab_size, tuple(grid), num_actions
        self.mask_id = vocab_size
        self.action_conditioning = action_conditioning
        self.mask_rate, self.label_smoothing = tuple(mask_rate), label_smoothing
        num_tokens, dim = self.grid[0] * self.grid[1], backbone.dim
        self.token_embed = nn.Embedding(vocab_size + 1, dim)
        self.pos_embed = nn.Parameter(torch.randn(num_tokens, dim) * 0.02)
        self.action_embed = nn.Embedding(num_actions + 1, dim)  # index num_actions: "no action" (frame 1)
        self.head = nn.Linear(dim, vocab_size)
        self.change_weight = change_weight
        self.copy_gate = nn.Linear(dim, 1) if copy_prior else None
        if self.copy_gate is not None:
            nn.init.zeros_(self.copy_gate.weight)
            nn.init.constant_(self.copy_gate.bias, copy_init)
        nn.init.normal_(self.token_embed.weight, std=0.02)
        nn.init.normal_(self.action_embed.weight, std=0.02)

    @property
    def tokens_per_frame(self) -> int:
        return self.grid[0] * self.grid[1]

    def check_actions(self, actions: Tensor) -> None:
        if actions.numel() and (actions.min() < 0 or actions.max() >= self.num_actions):
            bad = actions[(actions < 0) | (actions >= self.num_actions)][0].item()
            raise ValueError(f"action {bad} is outside the valid range 0..{self.num_actions - 1}")

    def forward(self, tokens: Tensor, actions: Tensor, positions: Tensor | None = None,
                cache: list[KVCache] | None = None, commit: bool = False, window: int | None = None,
                previous: Tensor | None = None) -> Tensor:
        """Logits ``b t n V`` for token ids ``b t n`` (``mask_id`` where masked); with ``window``
        each frame attends to the last ``window`` frames only (what the sliding cache computes).

        ``actions`` is ``b t``: entry ``t`` is the action *into* frame ``t``; use
        ``num_actions`` ("no action") for a first frame. See :meth:`actions_into_frames`.
        ``previous`` (``b t n``, for ``copy_prior``) holds the ids of the frame before each frame
        (``-1``: none); by default frame ``t``'s is frame ``t-1`` of ``tokens`` and the first has none.
        """
        x = self.token_embed(tokens) + self.pos_embed
        action = self.action_embed(actions)[:, :, None]
        if self.action_conditioning == "additive":
            x = x + action
        else:
            x = torch.cat((action, x), dim=2)
        h = self.backbone(x, positions=positions, cache=cache, commit=commit, window=window)
        if self.action_conditioning == "prepend":
            h = h[:, :, 1:]
        logits = self.head(h)
        if self.copy_gate is None:
            return logits
        if previous is None:
            previous = self.previous_frames(tokens)
        known = (previous >= 0) & (previous < self.vocab_size)  # mask ids and "none" get no bonus
        bonus = self.copy_gate(h) * known[..., None]
        return logits.scatter_add(-1, previous.clamp(0, self.vocab_size - 1)[..., None], bonus)

    @staticmethod
    def previous_frames(tokens: Tensor) -> Tensor:
        """Ids ``b t n`` of the frame before each frame (``-1`` before the first)."""
        return torch.cat((torch.full_like(tokens[:, :1], -1), tokens[:, :-1]), dim=1)

    def actions_into_frames(self, actions: Tensor) -> Tensor:
        """Transition actions ``b (t-1)`` -> per-frame actions ``b t`` ("no action" into frame 1)."""
        self.check_actions(actions)
        start = actions.new_full((actions.shape[0], 1), self.num_actions)
        return torch.cat((start, actions), dim=1)

    def random_mask(self, tokens: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Boolean ``b t n``: per sample a rate r ~ U(mask_rate), each token of frames 2..T masked w.p. r."""
        b, t, n = tokens.shape
        low, high = self.mask_rate
        rate = low + (high - low) * torch.rand(b, 1, 1, device=tokens.device, generator=generator)
        mask = torch.rand(b, t, n, device=tokens.device, generator=generator) < rate
        mask[:, 0] = False
        return mask

    def compute(self, tokens: Tensor, actions: Tensor, mask: Tensor | None = None) -> DynamicsOutput:
        """Masked-token cross-entropy for tokens ``b t h' w'`` (or ``b t n``) and actions ``b (t-1)``."""
        tokens = tokens.reshape(tokens.shape[0], tokens.shape[1], -1)
        if tokens.shape[-1] != self.tokens_per_frame:
            raise ValueError(f"the dynamics model expects {self.tokens_per_frame} tokens per frame (grid "
                             f"{self.grid}), got {tokens.shape[-1]}; its grid must match the tokenizer's")
        mask = self.random_mask(tokens) if mask is None else mask
        inputs = tokens.masked_fill(mask, self.mask_id)
        previous = self.previous_frames(tokens)  # the real previous frame, as at play time
        logits = self(inputs, self.actions_into_frames(actions), previous=previous)
        if not mask.any():
            zero = logits.sum() * 0
            return DynamicsOutput(zero, zero.detach(), logits)
        masked_logits, targets = logits[mask], tokens[mask]
        losses = F.cross_entropy(masked_logits.float(), targets, label_smoothing=self.label_smoothing,
                                 reduction="none")
        if self.change_weight:
            weight = 1.0 + self.change_weight * (targets != previous[mask]).float()
            loss = (weight * losses).sum() / weight.sum()
        else:
            loss = losses.mean()
        accuracy = (masked_logits.argmax(-1) == targets).float().mean()
        return DynamicsOutput(loss, accuracy, logits)

    def frame_logits(self, tokens: Tensor, action: Tensor, position: int, cache: list[KVCache],
                     previous: Tensor | None = None, commit: bool = False) -> Tensor:
        """Logits ``b n V`` of one new frame (ids ``b n``) entered by ``action`` ``b``, at frame
        index ``position``, attending to the committed frames in ``cache``; ``previous`` (``b n``)
        is the last committed frame's ids, which ``copy_prior`` needs."""
        if self.copy_gate is not None and previous is None and not commit:
            raise ValueError("this dynamics model has a copy prior: pass the previous frame's tokens")
        positions = torch.tensor([position], device=tokens.device)
        prev = None if previous is None else previous[:, None]
        return self(tokens[:, None], action[:, None], positions=positions, cache=cache, commit=commit,
                    previous=prev)[:, 0]

    # ------------------------------------------------------------------------- Lightning
    def _step(self, batch: dict, stage: str) -> Tensor:
        out = self.compute(batch["tokens"], batch["actions"])
        self.log_dict({f"{stage}/loss": out.loss, f"{stage}/token_accuracy": out.accuracy},
                      prog_bar=True, batch_size=batch["tokens"].shape[0], sync_dist=stage != "train")
        return out.loss

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "test")

    def on_fit_start(self) -> None:
        self.remember_clip_length()
        datamodule = getattr(self.trainer, "datamodule", None)
        check = getattr(datamodule, "check_dynamics", None)
        if check is not None:
            check(self)

