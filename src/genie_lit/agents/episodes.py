"""``EpisodeVideoDataModule``: :class:`~genie_lit.data.VideoDataModule` whose items also carry
``episode``, the relative path of the clip's video file (a stable episode id).

The latent action model's few-label supervision (``labelled_fraction`` > 0) picks its labelled
episodes by a seeded hash of that id, so the same episodes are labelled in every epoch and run.
"""

from __future__ import annotations

from torch.utils.data import Dataset

from genie_lit.data.clips import ClipDataset
from genie_lit.data.datamodule import VideoDataModule


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


class EpisodeVideoDataModule(VideoDataModule):
    """Clips as :class:`~genie_lit.data.VideoDataModule` (same arguments), each naming its episode."""

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        super().setup(stage)
        self.datasets = {name: EpisodeClips(ds) for name, ds in self.datasets.items()}
