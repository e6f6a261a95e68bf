"""LightningModules, one per Genie component."""

from genie_lit.models.base import GenieModule, WarmupCosineLR
from genie_lit.models.tokenizer import VideoTokenizer

__all__ = ["GenieModule", "VideoTokenizer", "WarmupCosineLR"]
