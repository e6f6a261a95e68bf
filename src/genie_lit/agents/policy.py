"""``BehaviourCloning``: a policy from observations to (latent) actions, trained by imitation
(Bruce et al., 2024, §6.1.4: "we train a policy to predict latent actions from expert videos").

The input is the last ``history`` frames stacked on the channel axis; the output is a categorical
distribution over ``num_actions``: the latent action model's codebook (labels from the LAM) or the
game's real actions (the oracle, ``labels: recorded`` in the data module). A small convolutional
network: 64x64 frames are reduced 8x by three strided convolutions, then two linear layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from genie_lit.models.base import GenieModule, default_optimizer


class BehaviourCloning(GenieModule):
    """Frames ``b (history c) h w`` -> logits ``b num_actions``, trained by cross-entropy.

    Args:
        num_actions: size of the action space (the LAM's codebook_size, or e.g. 18 for real Atari actions).
        history: stacked frames per observation (must equal the data module's).
        channels: channels per frame.
        width: channels of the first convolution (doubled once).
        hidden: width of the hidden linear layer.
    """

    def __init__(self, num_actions: int = 8, history: int = 4, channels: int = 3, width: int = 32, hidden: int = 256,
                 optimizer: OptimizerCallable = default_optimizer,
                 scheduler: LRSchedulerCallable | None = None) -> None:
        super().__init__(optimizer, scheduler)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.num_actions, self.history = num_actions, history
        self.net = nn.Sequential(
            nn.Conv2d(history * channels, width, 4, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(2 * width, 2 * width, 4, stride=2, padding=1), nn.GELU(),
            nn.AdaptiveAvgPool2d(8), nn.Flatten(),
            nn.Linear(2 * width * 64, hidden), nn.GELU(), nn.Linear(hidden, num_actions),
        )
        self.val_accuracy = MulticlassAccuracy(num_actions, average="micro")

    def forward(self, frames: Tensor) -> Tensor:
        """``b (history c) h w`` in [0, 1] -> logits ``b num_actions``."""
        return self.net(frames * 2 - 1)

    @torch.no_grad()
    def act(self, frames: Tensor, greedy: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """Actions ``b`` drawn from (or, ``greedy``, the mode of) the policy."""
        logits = self(frames)
        if greedy:
            return logits.argmax(-1)
        return torch.multinomial(logits.float().softmax(-1), 1, generator=generator)[:, 0]

    def _check_labels(self, labels: Tensor) -> None:
        if int(labels.max()) >= self.num_actions:
            raise ValueError(f"a label is {int(labels.max())} but the policy has num_actions={self.num_actions}; "
                             "set model.num_actions to the LAM's codebook_size (latent) or the game's action count "
                             "(recorded)")

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        self._check_labels(batch["label"])
        loss = F.cross_entropy(self(batch["frames"]), batch["label"])
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["label"]))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch["frames"])
        self.log("val/loss", F.cross_entropy(logits, batch["label"]), batch_size=len(batch["label"]), sync_dist=True)
        self.val_accuracy(logits, batch["label"])
        self.log("val/accuracy", self.val_accuracy, prog_bar=True)
