"""``QualityClassifier``: the data-quality filter of Genie (Bruce et al., 2024, §3 "Data").

The paper trained a classifier on 10k videos rated 1-5 by people and kept the clips it scored
well, cutting 244k hours to 30k. Here the classifier is small and ours, trained from scratch (no
downloaded weights): each frame and its difference from the previous frame (motion, which is
what tells a static, menu or cut clip from play) are cut into patches, embedded, passed through
an ST-transformer (:class:`genie_lit.nn.STTransformer`, injected) and mean-pooled into 5 logits,
one per score. The loss is cross-entropy on the rounded score; :meth:`score` returns the
expected score under the softmax, a number in [1, 5] that ``genie-lit prepare --min-score``
thresholds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from genie_lit.models.base import GenieModule, as_hw, default_optimizer
from genie_lit.nn import STTransformer, VideoBackbone, grid_size, patchify

NUM_SCORES = 5


def small_backbone() -> VideoBackbone:
    return STTransformer(dim=64, depth=2, num_heads=4)


class QualityClassifier(GenieModule):
    """Scores a clip 1 (junk) to 5 (good play).

    Args:
        backbone: video backbone over ``b t n d`` patch embeddings (default: a 2-block ST-transformer, 64 wide).
        image_size: frame size the classifier works at; clips of another size are resized.
        patch_size: side of the square patches.
        optimizer, scheduler: injected by the CLI.
    """

    def __init__(self, backbone: VideoBackbone | None = None, image_size: int | tuple[int, int] = 64,
                 patch_size: int = 8, optimizer: OptimizerCallable = default_optimizer,
                 scheduler: LRSchedulerCallable | None = None) -> None:
        super().__init__(optimizer, scheduler)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.backbone = backbone if backbone is not None else small_backbone()
        self.image_size, self.patch_size = as_hw(image_size), patch_size
        grid = grid_size(*self.image_size, patch_size)
        dim = self.backbone.dim
        self.embed = nn.Linear(6 * patch_size * patch_size, dim)
        self.pos = nn.Parameter(torch.zeros(1, 1, grid[0] * grid[1], dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.head = nn.Linear(dim, NUM_SCORES)

    def forward(self, video: Tensor) -> Tensor:
        """``b t c h w`` in [0, 1] -> ``b 5`` logits of scores 1..5."""
        if tuple(video.shape[-2:]) != self.image_size:
            b = video.shape[0]
            video = F.interpolate(rearrange(video, "b t c h w -> (b t) c h w"), size=self.image_size, mode="area")
            video = rearrange(video, "(b t) c h w -> b t c h w", b=b)
        motion = torch.diff(video, dim=1, prepend=video[:, :1])
        x = self.embed(patchify(torch.cat([video, motion], dim=2), self.patch_size)) + self.pos
        return self.head(self.backbone(x).mean(dim=(1, 2)))

    @torch.no_grad()
    def score(self, video: Tensor) -> Tensor:
        """``b t c h w`` -> ``b`` expected scores in [1, 5]."""
        probs = self(video).softmax(-1)
        return probs @ torch.arange(1, NUM_SCORES + 1, dtype=probs.dtype, device=probs.device)

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        logits = self(batch["video"])
        target = batch["score"].round().long().clamp(1, NUM_SCORES) - 1
        loss = F.cross_entropy(logits, target)
        size = target.shape[0]
        expected = logits.softmax(-1) @ torch.arange(1, NUM_SCORES + 1, dtype=logits.dtype, device=logits.device)
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=size, sync_dist=stage != "train")
        self.log(f"{stage}/accuracy", (logits.argmax(-1) == target).float().mean(), batch_size=size,
                 sync_dist=stage != "train")
        self.log(f"{stage}/score_mae", (expected - batch["score"]).abs().mean(), batch_size=size,
                 sync_dist=stage != "train")
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")
