"""Options of the latent action model that stand apart from it: the ``search`` assignment's
:class:`SearchOptions` and the few-label supervision's choice of labelled episodes
(:func:`labelled_episodes`). See :mod:`genie_lit.models.lam`."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

MAX_TRUE_ACTIONS = 18  # outputs of the few-label head: the full Atari action set
LABEL_SEED = 0  # seed of the hash that picks the labelled episodes


@dataclass(frozen=True)
class SearchOptions:
    """Options of the hard-EM ``search`` assignment (a YAML mapping under ``search:``).

    Args:
        temperature: temperature of the encoder's cosine logits over the codes.
        head_hidden: hidden width of the decoder's action head.
        null_action_weight: weight of an extra loss on the decoder's prediction with a zero action
            code, which teaches the trunk to explain what needs no action (also read by
            ``assignment="continuous"``).
        warmup_steps: first training steps in which the decoder learns to predict with the zero
            action only: what history explains is learned before codes compete.
        inference: how a real transition's latent action is read: ``"encoder"``, the encoder's
            nearest code (amortised, the paper's LAM); ``"search"``, the code whose decoder
            prediction of the real next frame is best, i.e. the E-step itself (|A| small head
            passes per transition, no encoder error). It also decides which actions the co-trained
            dynamics model learns from.
        decoder_window: frames of history the decoder trunk sees when it predicts ``x_{t+1}``:
            ``None`` (default) all of ``x_1..x_t``; ``1`` only ``x_t``. With the whole history the
            trunk can read a held action from the player's last moves, so the code need only name
            when the action changes (also read by ``assignment="continuous"``).
        balance_iterations: 0 (default): each transition takes its best code. ``n`` > 0: the
            E-step's codes are pulled towards equal use over the batch by ``n`` Sinkhorn steps on
            the codes' errors (:func:`genie_lit.nn.balanced_assignment`; 3 is SwAV's partial pull,
            about 10 near-equal use), so no code can win the transitions it barely explains better.
            Training only; under DDP each rank balances its own batch.
        persistence: 0 (default): each transition's code is chosen on its own. ``p`` > 0: the
            E-step chooses each clip's codes together, with a penalty of ``p`` times the clip's mean
            spread of code errors for every change of code from one transition to the next
            (:func:`genie_lit.nn.persistent_assignment`, a Viterbi path): a prior that actions are
            held for several frames, as players (and the recorder's random policy) hold them, so a
            transition whose action barely shows takes the code of the held action around it.
            Training only; not with ``balance_iterations``.
        anchor_labels: with ``labelled_fraction`` > 0, the labels also enter the E-step: each
            labelled transition takes the code :func:`anchor_codes` gives its true action (its
            index modulo |A|) instead of the code that predicts it best, so the decoder learns what
            each code does from the labelled transitions, and the unlabelled ones take the code
            whose effect matches theirs. ``False`` (default): labels train only the few-label head
            on the encoder's latent, and the E-step alone decides the codes.
        unlabelled_weight: with ``anchor_labels``, the weight of the encoder's loss on the
            unlabelled transitions' E-step codes against 1 on the labelled transitions' anchored
            codes: 1 (default) treats them alike; 0 trains the encoder on the labelled transitions
            alone, a supervised inverse-dynamics model whose codes name the true actions (the
            decoder still learns from every transition).
    """

    temperature: float = 0.1
    head_hidden: int = 256
    null_action_weight: float = 0.0
    warmup_steps: int = 0
    inference: Literal["encoder", "search"] = "encoder"
    decoder_window: int | None = None
    balance_iterations: int = 0
    persistence: float = 0.0
    anchor_labels: bool = False
    unlabelled_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.inference not in ("encoder", "search"):
            raise ValueError(f"search inference must be 'encoder' or 'search', got {self.inference!r}")
        if (self.temperature <= 0 or self.head_hidden < 1 or self.null_action_weight < 0 or self.warmup_steps < 0
                or self.balance_iterations < 0 or self.persistence < 0 or self.unlabelled_weight < 0):
            raise ValueError(f"search options out of range: {self} (temperature > 0, head_hidden >= 1, "
                             "null_action_weight >= 0, warmup_steps >= 0, balance_iterations >= 0, "
                             "persistence >= 0, unlabelled_weight >= 0)")
        if self.persistence > 0 and self.balance_iterations > 0:
            raise ValueError(f"search persistence={self.persistence} and balance_iterations={self.balance_iterations} "
                             "both choose the E-step's codes: set one of them to 0")
        if self.unlabelled_weight != 1.0 and not self.anchor_labels:
            raise ValueError(f"search unlabelled_weight={self.unlabelled_weight} weighs the unlabelled transitions "
                             "against the anchored labelled ones: set anchor_labels: true, or drop it")
        if self.decoder_window is not None and self.decoder_window < 1:
            raise ValueError(f"search decoder_window must be None (all history) or >= 1 frames, "
                             f"got {self.decoder_window}")


# the flat constructor options of versions before SearchOptions -> their field in it
FLAT_SEARCH_OPTIONS = {"search_temperature": "temperature", "head_hidden": "head_hidden",
                        "null_action_weight": "null_action_weight", "search_warmup_steps": "warmup_steps",
                        "action_inference": "inference"}


def anchor_codes(actions: Tensor, num_codes: int) -> Tensor:
    """The code a labelled transition takes in the E-step with ``anchor_labels``: its true action
    modulo ``num_codes`` (any fixed map would do: the decoder learns what the code does). With at
    most |A| true actions every action has its own code; Atari's movement actions (minimal-set
    indices 0..9 at most) share a code only for indices 8 and 9 with 0 and 1."""
    return actions.remainder(num_codes)


def labelled_episodes(episodes: Sequence[str], fraction: float) -> Tensor:
    """Which episodes may use their true actions: ``crc32("seed:id") / 2**32 < fraction``, a fixed
    choice per episode id (the same in every epoch, process and run)."""
    return torch.tensor([zlib.crc32(f"{LABEL_SEED}:{e}".encode()) / 2**32 < fraction for e in episodes],
                        dtype=torch.bool)
