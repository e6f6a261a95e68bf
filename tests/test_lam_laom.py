"""The LAOM levers of the latent action model: clip augmentation and continuous training with a
discrete head (``assignment="continuous"``)."""

import pytest
import torch

from genie_lit.nn import random_shift
from test_world_models import tiny_lam


def test_random_shift_moves_each_clip_as_a_whole():
    """Every frame of a clip gets the same offset (the motion between frames is kept), clips get
    their own, and the content really moves."""
    video = torch.zeros(16, 3, 1, 12, 12)
    for t in range(3):
        video[:, t, :, 5, 3 + t] = 1.0  # a dot moving right, one pixel a frame
    shifted = random_shift(video, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == video.shape
    positions = [[divmod(int(shifted[b, t, 0].argmax()), 12) for t in range(3)] for b in range(16)]
    for clip in positions:
        (y0, x0), (y1, x1), (y2, x2) = clip
        assert y0 == y1 == y2 and x1 - x0 == 1 and x2 - x1 == 1
        assert abs(y0 - 5) <= 2 and abs(x0 - 3) <= 2
    assert len({tuple(clip[0]) for clip in positions}) > 1
    assert torch.equal(random_shift(video, 0), video)
    with pytest.raises(ValueError, match="max_shift must be >= 0"):
        random_shift(video, -1)


def test_augmentation_applies_in_training_only_and_rejects_negative_shifts():
    video = torch.rand(2, 3, 3, 16, 16)
    plain, augmented = tiny_lam(), tiny_lam(augment_shift=3)
    assert torch.equal(plain.eval().compute(video).prediction, augmented.eval().compute(video).prediction)
    torch.manual_seed(1)
    assert not torch.allclose(plain.train().compute(video).loss, augmented.train().compute(video).loss)
    with pytest.raises(ValueError, match="augment_shift must be >= 0"):
        tiny_lam(augment_shift=-1)


def test_continuous_lam_trains_on_the_latent_and_its_discrete_head_never_shapes_it():
    """The decoder reads the continuous latent; the codebook is fitted beside it, so the encoder's
    gradients do not depend on the codebook; a transition's action is its latent's nearest code."""
    video = torch.rand(2, 4, 3, 16, 16)
    grads = []
    for codebook_seed in (0, 1):
        lam = tiny_lam(assignment="continuous", warmup_steps=0).train()
        with torch.no_grad():
            lam.quantizer.codebook.copy_(torch.randn(4, 8, generator=torch.Generator().manual_seed(codebook_seed)))
        out = lam.compute(video)
        out.loss.backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in lam.encoder.parameters()]))
        assert lam.quantizer.codebook.grad is not None and lam.quantizer.codebook.grad.abs().sum() > 0
        assert out.actions.shape == (2, 3)
        lam.eval()
        latents = lam.encode_latents(video)
        assert torch.equal(lam.infer_actions(video), lam.quantizer(latents).indices)
    assert torch.allclose(grads[0], grads[1])


def test_continuous_lam_seeds_its_codebook_by_kmeans_after_the_warmup():
    lam = tiny_lam(assignment="continuous", warmup_steps=3).train()
    before = lam.quantizer.codebook.detach().clone()
    for _ in range(2):
        lam.compute(torch.rand(2, 4, 3, 16, 16))
    assert torch.equal(lam.quantizer.codebook, before)
    lam.compute(torch.rand(2, 4, 3, 16, 16))
    assert not torch.equal(lam.quantizer.codebook, before)


def test_a_world_with_the_continuous_augmented_lam_trains_loads_and_plays(video_dir, tokenizer_ckpt, tmp_path):
    """Through ``genie-lit fit``: the dynamics learns from the discrete head's actions, and the
    saved world infers 8-way actions and rolls out with them."""
    from conftest import CONFIGS, TINY, fit_checkpoint
    from genie_lit.models import Genie

    lam = "--model.init_args.lam.init_args."
    ckpt = fit_checkpoint(CONFIGS / "genie" / "cotrain.yaml", TINY / "tiny_cotrain.yaml", video_dir, tmp_path,
                          "--model.tokenizer_ckpt", str(tokenizer_ckpt), lam + "assignment", "continuous",
                          lam + "augment_shift", "2", lam + "warmup_steps", "1")
    world = Genie.from_checkpoint(str(ckpt), maskgit_steps=2)
    assert world.lam.assignment == "continuous" and world.lam.augment_shift == 2
    video = torch.rand(1, 4, 3, 64, 64)
    actions = world.infer_actions(video)
    assert actions.shape == (1, 3) and int(actions.max()) < world.num_actions
    assert world.rollout(actions, prompt=video[:, :1], seed=0).shape == (1, 3, 3, 64, 64)
