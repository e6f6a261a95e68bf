"""Few-label supervision of the latent action model (``labelled_fraction``; LAOM, Nikulin et al.,
ICML 2025): which transitions may use their true action, the small head that learns it, and the
checks at fit start. Mixed into :class:`genie_lit.models.lam.LatentActionModel`."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from genie_lit.models.lam_options import MAX_TRUE_ACTIONS, labelled_episodes


class FewLabelSupervision:
    """The latent action model's few-label methods; the model provides ``quantizer``, ``search``
    and Lightning's ``trainer``."""

    labelled_fraction: float = 0.0

    def set_labelled_fraction(self, fraction: float) -> None:
        """Turn few-label supervision on (``fraction`` > 0, adds the head once) or off."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"labelled_fraction must be in [0, 1], got {fraction}")
        self.labelled_fraction = float(fraction)
        if fraction > 0 and not hasattr(self, "label_head"):
            self.label_head = nn.Linear(self.quantizer.dim, MAX_TRUE_ACTIONS)

    def label_inputs(self, batch: dict) -> dict:
        """The true-action inputs of :meth:`compute` for ``batch``: none at all when
        ``labelled_fraction`` is 0, so no true action can reach a gradient."""
        if self.labelled_fraction <= 0:
            return {}
        if "episode" not in batch:
            raise ValueError("labelled_fraction > 0 needs batches that name their episodes ('episode'); "
                             "train with data class_path genie_lit.agents.EpisodeVideoDataModule")
        return {"actions": batch["actions"], "episodes": batch["episode"]}

    def check_labelled_episodes(self) -> None:
        """At fit start, with ``labelled_fraction`` > 0: warn when the hash selects none of the
        training episodes that have action sidecars (few episodes and a small fraction); refuse
        ``search.anchor_labels`` without labels, which would train an unsupervised LAM unnoticed, and a
        data module whose ``labelled_share`` draws from other episodes than the model labels."""
        if self.search.anchor_labels and self.labelled_fraction <= 0:
            raise ValueError("search.anchor_labels puts true actions into the E-step but labelled_fraction is 0: "
                             "set labelled_fraction > 0 (e.g. 0.16) or drop anchor_labels")
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        data = getattr(datamodule, "hparams", {})
        if data.get("labelled_share") is not None and data.get("labelled_fraction") != self.labelled_fraction:
            raise ValueError(f"data.labelled_share draws clips from the episodes that data.labelled_fraction="
                             f"{data.get('labelled_fraction')} labels, but the model's labelled_fraction is "
                             f"{self.labelled_fraction}: set both to the same value")
        train = (getattr(datamodule, "datasets", None) or {}).get("train")
        videos = getattr(getattr(train, "clips", None), "videos", None)
        if self.labelled_fraction <= 0 or not videos:
            return
        ids = [v.relpath for v in videos if v.actions_path is not None]
        if not bool(labelled_episodes(ids, self.labelled_fraction).any()):
            warnings.warn(f"labelled_fraction={self.labelled_fraction} selects none of the {len(ids)} training "
                          "episodes with action sidecars, so no true action is used; raise it or record more episodes",
                          stacklevel=2)

    def _labelled_mask(self, actions: Tensor, episodes: Sequence[str]) -> Tensor:
        """``b (t-1)``: the transitions whose true action may be used (a labelled episode, a valid action)."""
        chosen = labelled_episodes(episodes, self.labelled_fraction).to(actions.device)[:, None]
        return chosen & (actions >= 0) & (actions < MAX_TRUE_ACTIONS)

    def _label_loss(self, latents: Tensor, actions: Tensor, mask: Tensor) -> Tensor:
        """Cross-entropy of the head on the labelled transitions ``mask`` (0 with a graph if none)."""
        logits = self.label_head(latents)  # b (t-1) A
        if not bool(mask.any()):
            return 0.0 * logits.sum()  # keeps the head in the graph (DDP)
        return F.cross_entropy(logits[mask].float(), actions[mask])
