"""``EpisodeVideoDataModule``: :class:`~genie_lit.data.VideoDataModule` whose items also carry
``episode``, the relative path of the clip's video file (a stable episode id).

The latent action model's few-label supervision (``labelled_fraction`` > 0) picks its labelled
episodes by a seeded hash of that id, so the same episodes are labelled in every epoch and run.
With ``labelled_share`` the module draws that share of the training clips from those episodes.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from genie_lit.data.clips import ClipDataset
from genie_lit.data.datamodule import VideoDataModule, clip_loader
from genie_lit.models.lam_options import labelled_episodes


class EpisodeClips(Dataset):
    """The items of ``clips`` with ``episode`` (the file's relative path) added."""

    def __init__(self, clips: ClipDataset) -> None:
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict:
        vi, _ = self.clips.clips[i % len(self.clips.clips)]
        item = self.clips[i]
        item["episode"] = self.clips.videos[vi].relpath
        return item

    @property
    def too_short(self) -> list[str]:
        return self.clips.too_short

    @property
    def games(self) -> list[str]:
        return self.clips.games

    def labelled(self, fraction: float) -> torch.Tensor:
        """Per clip: whether its episode is one that ``labelled_fraction`` = ``fraction`` labels
        (chosen by the hash and recorded with an action sidecar)."""
        videos = self.clips.videos
        chosen = labelled_episodes([v.relpath for v in videos], fraction)
        usable = torch.tensor([bool(c) and v.actions_path is not None for c, v in zip(chosen, videos)])
        return usable[torch.tensor([vi for vi, _ in self.clips.clips], dtype=torch.long)]


class EpisodeVideoDataModule(VideoDataModule):
    """Clips as :class:`~genie_lit.data.VideoDataModule` (same arguments), each naming its episode.

    Args:
        labelled_fraction: the model's ``labelled_fraction``, repeated here for ``labelled_share``
            (a fit whose two values differ is refused at its start).
        labelled_share: ``None`` (default) draws training clips uniformly. A share in (0, 1) draws
            them with replacement so that this share of them, on average, comes from the labelled
            episodes and the rest from the others (each group uniformly over its clips): the few
            labelled episodes then reach the latent action model in every batch, not in one batch
            of eight. An epoch stays one pass's worth of clips.
        **kwargs: :class:`~genie_lit.data.VideoDataModule`'s arguments.
    """

    def __init__(self, data_dir: str, labelled_fraction: float = 0.0, labelled_share: float | None = None,
                 **kwargs) -> None:
        if labelled_share is not None:
            if not 0.0 < labelled_share < 1.0:
                raise ValueError(f"data.labelled_share must be in (0, 1) or null, got {labelled_share}")
            if labelled_fraction <= 0:
                raise ValueError("data.labelled_share draws clips from the labelled episodes but data.labelled_fraction "
                                 "is 0: set it to the model's labelled_fraction (e.g. 0.16)")
        super().__init__(data_dir, **kwargs)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        super().setup(stage)
        self.datasets = {name: EpisodeClips(ds) for name, ds in self.datasets.items()}

    def train_dataloader(self) -> DataLoader:
        share = self.hparams.labelled_share
        if share is None:
            return super().train_dataloader()
        dataset = self.datasets["train"]
        labelled = dataset.labelled(self.hparams.labelled_fraction)
        count = int(labelled.sum())
        if count in (0, len(labelled)):
            raise ValueError(f"data.labelled_share needs labelled and unlabelled training episodes, but "
                             f"labelled_fraction={self.hparams.labelled_fraction} labels {count} of {len(labelled)} "
                             "training clips: change labelled_fraction or record more episodes")
        weights = torch.where(labelled, share / count, (1 - share) / (len(labelled) - count)).double()
        sampler = WeightedRandomSampler(weights, num_samples=len(dataset), replacement=True)
        return clip_loader(dataset, self.hparams.batch_size, self.hparams.num_workers, shuffle=False,
                           sampler=sampler, drop_last=len(dataset) >= self.hparams.batch_size)
