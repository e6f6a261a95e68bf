"""VideoTokenizer: shapes, causality of tokens, and that it learns."""

import pytest
import torch

from genie_lit.models import VideoTokenizer
from genie_lit.nn import SpacetimeTransformer, SpatialTransformer, STTransformer, VectorQuantizer


def tiny_tokenizer(backbone=STTransformer, size=(16, 24), patch=4) -> VideoTokenizer:
    torch.manual_seed(0)
    return VideoTokenizer(
        encoder=backbone(dim=32, depth=1, num_heads=4),
        decoder=backbone(dim=32, depth=1, num_heads=4),
        quantizer=VectorQuantizer(codebook_size=64, dim=8),
        image_size=size,
        patch_size=patch,
    )


@pytest.mark.parametrize("backbone", [STTransformer, SpatialTransformer, SpacetimeTransformer])
def test_encode_decode_shapes(backbone):
    model = tiny_tokenizer(backbone).eval()
    video = torch.rand(2, 3, 3, 16, 24)
    tokens = model.encode(video)
    assert tokens.shape == (2, 3, 4, 6) and tokens.dtype == torch.long
    assert tokens.max() < model.codebook_size
    frames = model.decode(tokens)
    assert frames.shape == video.shape and frames.min() >= 0 and frames.max() <= 1


def test_st_vivit_tokens_are_causal():
    model = tiny_tokenizer().eval()
    video = torch.rand(1, 4, 3, 16, 24)
    changed = video.clone()
    changed[:, 2:] = torch.rand_like(changed[:, 2:])
    with torch.no_grad():
        a, b = model.quantize(video), model.quantize(changed)
    assert torch.equal(a.indices[:, :2], b.indices[:, :2])


def test_wrong_frame_size_is_refused_with_both_sizes():
    model = tiny_tokenizer()
    with pytest.raises(ValueError, match=r"\(b, t, 3, 16, 24\).*\(1, 2, 3, 32, 32\)"):
        model.encode(torch.rand(1, 2, 3, 32, 32))


def test_tokenizer_learns_to_reconstruct():
    model = tiny_tokenizer(size=(16, 16))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    video = torch.zeros(4, 2, 3, 16, 16)
    for i in range(4):
        video[i, :, i % 3, 4 * i:4 * i + 4, :] = 1.0  # a bar per clip
    losses = []
    for _ in range(60):
        recon, out = model(video)
        loss = torch.nn.functional.mse_loss(recon, video) + out.loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]
