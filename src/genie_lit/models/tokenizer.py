"""The Genie video tokenizer (Bruce et al., 2024, §2.1 and Table 3).

A VQ-VAE over video: frames ``b t c h w`` in [0, 1] are cut into patches, mixed by an encoder
backbone, quantised into discrete tokens ``b t h' w'`` and decoded back to frames by a decoder
backbone. With :class:`~genie_lit.nn.STTransformer` backbones this is the paper's ST-ViViT: the
encoder is causal in time, so token ``z_t`` depends on frames ``x_1..x_t`` only. Swapping the
backbones for :class:`~genie_lit.nn.SpatialTransformer` (ViT) or
:class:`~genie_lit.nn.SpacetimeTransformer` (C-ViViT) gives the paper's ablation.

A second phase, not in the paper, trains the decoder alone over frozen codes (``train_encoder:
false``, ``init_from`` a trained tokenizer; ``configs/tokenizer/decoder.yaml``): its tokens are the
first phase's, bit for bit, so a world trained over either sees the same tokens, and only the
frames decoded from them get sharper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from genie_lit.models.base import GenieModule, as_hw, default_optimizer
from genie_lit.models.checkpoints import CheckpointError, freeze, load_module
from genie_lit.nn import KVCache, QuantizerOutput, VideoBackbone, grid_size, patchify, unpatchify


class VideoTokenizer(GenieModule):
    """Video VQ-VAE with injected encoder/decoder backbones and quantiser.

    Args:
        encoder: backbone over patch tokens (``dim`` attribute gives its width).
        decoder: backbone that maps quantised codes back to patch features.
        quantizer: :class:`~genie_lit.nn.VectorQuantizer` or :class:`~genie_lit.nn.FiniteScalarQuantizer`.
        image_size: frame size, an int or ``(height, width)``.
        patch_size: side of the square patch that becomes one token.
        channels: colour channels (3 for RGB).
        train_encoder: ``False`` trains the decoder side only (``post_quant``, ``decoder``,
            ``decoder_pos``, ``head``): the encoder and the quantiser are frozen in eval mode (no
            gradient, no code restart), so every clip keeps its tokens.
        init_from: a tokenizer checkpoint (``genie-lit fit``) whose weights this one starts from,
            e.g. the first phase's for a decoder-only phase. Not saved with the hyperparameters:
            this run's own checkpoints hold the weights.
        optimizer, scheduler: injected by the CLI (``OptimizerCallable`` / ``LRSchedulerCallable``).
    """

    def __init__(
        self,
        encoder: VideoBackbone,
        decoder: VideoBackbone,
        quantizer: nn.Module,
        image_size: int | tuple[int, int] = 64,
        patch_size: int = 8,
        channels: int = 3,
        train_encoder: bool = True,
        init_from: str | None = None,
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "init_from"])
        self.image_size = as_hw(image_size)
        self.patch_size, self.channels = patch_size, channels
        self.grid = grid_size(*self.image_size, patch_size)
        num_patches, patch_dim = self.grid[0] * self.grid[1], channels * patch_size**2
        self.encoder, self.decoder, self.quantizer = encoder, decoder, quantizer
        self.patch_embed = nn.Linear(patch_dim, encoder.dim)
        self.encoder_pos = nn.Parameter(torch.randn(num_patches, encoder.dim) * 0.02)
        self.pre_quant = nn.Linear(encoder.dim, quantizer.dim)
        self.post_quant = nn.Linear(quantizer.dim, decoder.dim)
        self.decoder_pos = nn.Parameter(torch.randn(num_patches, decoder.dim) * 0.02)
        self.head = nn.Linear(decoder.dim, patch_dim)
        self.train_psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.val_psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.val_ssim = StructuralSimilarityIndexMeasure(data_range=1.0)
        self.test_psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.test_ssim = StructuralSimilarityIndexMeasure(data_range=1.0)
        if init_from is not None:
            self.load_weights(init_from)
        self.train_encoder = train_encoder
        if not train_encoder:
            self.encoder_pos.requires_grad_(False)
            for part in self.encoder_modules():
                freeze(part)

    def encoder_modules(self) -> list[nn.Module]:
        """What decides the tokens, with ``encoder_pos``: patch embedding, encoder, projection, quantiser."""
        return [self.patch_embed, self.encoder, self.pre_quant, self.quantizer]

    def load_weights(self, path: str) -> None:
        """This tokenizer's weights from the tokenizer checkpoint ``path`` (same configuration)."""
        source = load_module(path, VideoTokenizer, "init_from checkpoint (a tokenizer's checkpoints/last.ckpt)")
        try:
            self.load_state_dict(source.state_dict())
        except RuntimeError as err:
            raise CheckpointError(f"init_from checkpoint {path} is a tokenizer of another configuration (sizes, "
                                  f"codebook or patch differ): pass the same tokenizer config it was trained "
                                  f"with. {str(err).splitlines()[0]}") from err

    def train(self, mode: bool = True) -> VideoTokenizer:
        super().train(mode)
        if not getattr(self, "train_encoder", True):
            for part in self.encoder_modules():
                part.eval()  # frozen: the quantiser neither counts nor restarts codes
        return self

    @property
    def codebook_size(self) -> int:
        return self.quantizer.codebook_size

    # ----------------------------------------------------------------------------- core maps
    def quantize(self, video: Tensor, cache: list[KVCache] | None = None, positions: Tensor | None = None,
                 commit: bool = False, window: int | None = None) -> QuantizerOutput:
        """Frames ``b t c h w`` in [0, 1] -> quantiser output over ``b t n`` tokens.

        ``window`` limits how many frames back each frame attends (for episodes longer than the
        training clips); ``cache``/``positions``/``commit`` encode incrementally."""
        self._check_frames(video)
        x = self.patch_embed(patchify(video * 2 - 1, self.patch_size)) + self.encoder_pos
        x = self.encoder(x, positions=positions, cache=cache, commit=commit, window=window)
        return self.quantizer(self.pre_quant(x))

    def decode_codes(self, codes: Tensor, cache: list[KVCache] | None = None, positions: Tensor | None = None,
                     commit: bool = False) -> Tensor:
        """Code vectors ``b t n e`` -> frames ``b t c h w`` (unclamped)."""
        x = self.decoder(self.post_quant(codes) + self.decoder_pos, positions=positions, cache=cache, commit=commit)
        patches = self.head(x)
        return (unpatchify(patches, self.patch_size, *self.image_size) + 1) / 2

    def forward(self, video: Tensor) -> tuple[Tensor, QuantizerOutput]:
        out = self.quantize(video)
        return self.decode_codes(out.quantized), out

    @torch.no_grad()
    def encode(self, video: Tensor) -> Tensor:
        """Frames ``b t c h w`` in [0, 1] -> token indices ``b t h' w'``."""
        indices = self.quantize(video).indices
        return rearrange(indices, "b t (h w) -> b t h w", h=self.grid[0])

    @torch.no_grad()
    def decode(self, tokens: Tensor, cache: list[KVCache] | None = None, positions: Tensor | None = None,
               commit: bool = False) -> Tensor:
        """Token indices ``b t h' w'`` -> frames ``b t c h w`` clamped to [0, 1]."""
        codes = self.quantizer.embed(rearrange(tokens, "b t h w -> b t (h w)"))
        return self.decode_codes(codes, cache, positions, commit).clamp(0, 1)

    def _check_frames(self, video: Tensor) -> None:
        if video.ndim != 5 or tuple(video.shape[-3:]) != (self.channels, *self.image_size):
            raise ValueError(
                f"expected frames shaped (b, t, {self.channels}, {self.image_size[0]}, {self.image_size[1]}), "
                f"got {tuple(video.shape)}"
            )

    # ------------------------------------------------------------------------- training
    def on_fit_start(self) -> None:
        self.check_data_resolution(self.image_size)
        self.remember_clip_length()

    def _shared_step(self, batch: dict, stage: str) -> tuple[Tensor, Tensor, Tensor]:
        video = batch["video"]
        recon, out = self(video)
        recon_loss = F.mse_loss(recon, video)
        loss = recon_loss + out.loss if self.train_encoder else recon_loss
        bs = video.shape[0]
        self.log_dict(
            {f"{stage}/loss": loss, f"{stage}/recon_loss": recon_loss, f"{stage}/codebook_usage": out.usage,
             f"{stage}/codebook_perplexity": out.perplexity},
            prog_bar=stage == "train", batch_size=bs, sync_dist=stage != "train",
        )
        return loss, rearrange(recon.clamp(0, 1), "b t c h w -> (b t) c h w"), rearrange(video, "b t c h w -> (b t) c h w")

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        loss, recon, target = self._shared_step(batch, "train")
        self.train_psnr(recon.detach(), target)
        self.log("train/psnr", self.train_psnr, prog_bar=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        _, recon, target = self._shared_step(batch, "val")
        self.val_psnr(recon, target)
        self.val_ssim(recon, target)
        self.log_dict({"val/psnr": self.val_psnr, "val/ssim": self.val_ssim}, prog_bar=True)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        _, recon, target = self._shared_step(batch, "test")
        self.test_psnr(recon, target)
        self.test_ssim(recon, target)
        self.log_dict({"test/psnr": self.test_psnr, "test/ssim": self.test_ssim})

    def predict_step(self, batch: dict, batch_idx: int) -> dict[str, Tensor]:
        tokens = self.encode(batch["video"])
        return {"tokens": tokens, "reconstruction": self.decode(tokens)}
