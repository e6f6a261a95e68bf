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


def test_a_decoder_only_phase_keeps_every_token_and_trains_the_decoder(tokenizer_ckpt, video_dir, tmp_path):
    """``configs/tokenizer/decoder.yaml`` through `genie-lit fit`: started from a trained tokenizer,
    the encoder side (weights, codebook, restart counters) is untouched, so every clip keeps its
    tokens; the decoder moved; the saved checkpoint loads without the file it started from."""
    import shutil

    from conftest import CONFIGS, TINY, fit_checkpoint
    from genie_lit.models.checkpoints import load_module

    start = tmp_path / "start.ckpt"
    shutil.copy(tokenizer_ckpt, start)
    before = load_module(start, VideoTokenizer)
    ckpt = fit_checkpoint(CONFIGS / "tokenizer" / "st_vivit.yaml", TINY / "tiny_tokenizer.yaml", video_dir,
                          tmp_path / "decoder", "--config", str(CONFIGS / "tokenizer" / "decoder.yaml"),
                          "--model.init_args.init_from", str(start), "--model.init_args.optimizer.init_args.lr",
                          "0.01", "--trainer.default_root_dir", str(tmp_path / "decoder"), steps=3)
    start.unlink()  # the phase's checkpoint holds its own weights
    after = load_module(ckpt, VideoTokenizer)
    assert not after.train_encoder and after.hparams.get("init_from") is None
    old, new = before.state_dict(), after.state_dict()
    decoder_side = ("post_quant.", "decoder.", "decoder_pos", "head.")
    for name in old:  # encoder, codebook and the quantiser's restart counters
        if not name.startswith((*decoder_side, "train_", "val_", "test_", "context_frames")):
            assert torch.equal(old[name], new[name]), name
    assert all(not torch.equal(old[n], new[n]) for n in old if n.startswith(decoder_side))
    video = torch.rand(2, 4, 3, 64, 64)
    assert torch.equal(before.encode(video), after.encode(video))


def test_init_from_refuses_a_checkpoint_that_is_not_this_tokenizer(tokenizer_ckpt, world_ckpt):
    from genie_lit.models.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match="holds a genie_lit.models.GenieCoTraining.*VideoTokenizer is needed"):
        tiny_tokenizer(size=(64, 64), patch=8).load_weights(str(world_ckpt))
    with pytest.raises(CheckpointError, match="another configuration.*same tokenizer config"):
        tiny_tokenizer(size=(64, 64), patch=4).load_weights(str(tokenizer_ckpt))
