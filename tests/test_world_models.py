"""Latent action model, dynamics model and MaskGIT sampler: causality and contracts."""

import pytest
import torch

from genie_lit.models import DynamicsModel, LatentActionModel, SearchOptions, maskgit_sample
from genie_lit.models.maskgit import masked_after_step
from genie_lit.nn import STTransformer, VectorQuantizer


def tiny_lam(**kwargs) -> LatentActionModel:
    torch.manual_seed(0)
    return LatentActionModel(
        encoder=STTransformer(dim=32, depth=2, num_heads=4),
        decoder=STTransformer(dim=32, depth=2, num_heads=4),
        quantizer=VectorQuantizer(codebook_size=4, dim=8),
        image_size=16, patch_size=4, **kwargs,
    )


def tiny_dynamics(conditioning="additive", **kwargs) -> DynamicsModel:
    torch.manual_seed(0)
    return DynamicsModel(backbone=STTransformer(dim=32, depth=2, num_heads=4), vocab_size=16, grid=(2, 3),
                         num_actions=4, action_conditioning=conditioning, **kwargs)


def test_lam_latents_are_causal():
    """a_t depends on frames x_1..x_{t+1} only."""
    lam = tiny_lam().eval()
    video = torch.rand(2, 6, 3, 16, 16)
    changed = video.clone()
    changed[:, 4:] = torch.rand_like(changed[:, 4:])  # frames x_5.. (0-based 4..)
    with torch.no_grad():
        a, b = lam.encode_latents(video), lam.encode_latents(changed)
    # latent t (0-based) covers transition x_{t} -> x_{t+1}; transitions 0..2 end at frame index <= 3
    assert (a[:, :3] - b[:, :3]).abs().max() <= 1e-6
    assert (a[:, 3:] - b[:, 3:]).abs().max() > 1e-4


def test_lam_decoder_sees_only_past_frames_and_actions():
    lam = tiny_lam().eval()
    video = torch.rand(1, 5, 3, 16, 16)
    codes = torch.randn(1, 5, 8)
    changed_video, changed_codes = video.clone(), codes.clone()
    changed_video[:, 3:] = torch.rand_like(changed_video[:, 3:])
    changed_codes[:, 3:] = torch.randn_like(changed_codes[:, 3:])
    with torch.no_grad():
        a, b = lam.predict_next(video, codes), lam.predict_next(changed_video, changed_codes)
    assert (a[:, :3] - b[:, :3]).abs().max() <= 1e-6


def test_lam_output_and_codebook_seeded_after_warmup():
    lam = tiny_lam(warmup_steps=2, assignment="nearest").train()
    video = torch.rand(3, 4, 3, 16, 16)
    for _ in range(2):
        assert lam.in_warmup()
        out = lam.compute(video)
        out.loss.backward()
    assert not lam.in_warmup()
    out = lam.compute(video)
    assert out.prediction.shape == (3, 3, 3, 16, 16)
    assert out.actions.shape == (3, 3) and out.actions.max() < 4
    assert lam.infer_actions(video).shape == (3, 3)


@pytest.mark.parametrize("assignment", ["search", "nearest"])
def test_lam_decoder_is_causal_in_both_assignments(assignment):
    lam = tiny_lam(assignment=assignment).eval()
    video, codes = torch.rand(1, 5, 3, 16, 16), torch.randn(1, 5, 8)
    changed = video.clone()
    changed[:, 3:] = torch.rand_like(changed[:, 3:])
    with torch.no_grad():
        assert (lam.predict_next(video, codes)[:, :3] - lam.predict_next(changed, codes)[:, :3]).abs().max() <= 1e-6


def test_search_assigns_the_code_whose_prediction_is_best():
    """The E-step: every transition is trained on the code with the lowest next-frame error, and
    the encoder's cross-entropy target is that code."""
    lam = tiny_lam(change_weight=0.0)
    with torch.no_grad():  # make the codes matter: a random, non-zero action head
        for param in lam.head.parameters():
            param.normal_(0, 0.5)
    video = torch.rand(2, 4, 3, 16, 16)
    lam.train()
    out = lam.compute(video)
    codes = lam.quantizer.codes()
    with torch.no_grad():
        trunk = lam.decode_trunk(video[:, :-1])
        errors = torch.stack([(lam.decode_head(trunk, video[:, :-1], c.expand(2, 3, -1)) - video[:, 1:]).pow(2)
                              .mean((2, 3, 4)) for c in codes])
    best = errors.min(dim=0).values.mean()
    assert torch.allclose(out.recon_loss, best, atol=1e-6)
    assert out.actions.shape == (2, 3) and out.loss.requires_grad


def test_search_warmup_trains_the_decoder_alone_first():
    lam = tiny_lam(search=SearchOptions(warmup_steps=1)).train()
    video = torch.rand(2, 4, 3, 16, 16)
    lam.compute(video).loss.backward()
    assert all(p.grad is None or p.grad.abs().max() == 0 for p in lam.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().max() > 0 for p in lam.head.parameters())
    lam.zero_grad()
    lam.compute(video).loss.backward()  # past the warm-up: the encoder learns the assigned codes
    assert any(p.grad is not None and p.grad.abs().max() > 0 for p in lam.encoder.parameters())


def test_search_decoder_window_limits_the_history_the_trunk_reads():
    """With ``decoder_window=1`` the trunk's features of frame t depend on x_t alone; with the
    default (all history) earlier frames change them."""
    video = torch.rand(1, 4, 3, 16, 16)
    changed = video.clone()
    changed[:, 0] = torch.rand(3, 16, 16)  # only the first frame differs
    for window, history_matters in ((None, True), (1, False), (2, False)):
        lam = tiny_lam(search=SearchOptions(decoder_window=window)).eval()
        with torch.no_grad():
            a, b = lam.decode_trunk(video), lam.decode_trunk(changed)
        assert not torch.allclose(a[:, 0], b[:, 0])  # the changed frame itself
        assert torch.allclose(a[:, 3], b[:, 3]) != history_matters  # three frames later
        assert torch.allclose(a[:, 1], b[:, 1]) == (window == 1)  # the next frame: only a window of 1 hides it
    with pytest.raises(ValueError, match="decoder_window"):
        SearchOptions(decoder_window=0)
    with pytest.raises(ValueError, match="has no trunk"):
        tiny_lam(assignment="nearest", search=SearchOptions(decoder_window=1))


def test_balanced_e_step_spreads_codes_in_training_only():
    """A fresh LAM's E-step gives every transition the same code; with ``balance_iterations`` the
    training E-step uses every code, while evaluation (and play's search inference) keeps the argmin."""
    video = torch.rand(4, 8, 3, 16, 16)
    previous, target = video[:, :-1], video[:, 1:]
    for iterations in (0, 10):
        lam = tiny_lam(search=SearchOptions(balance_iterations=iterations))
        with torch.no_grad():
            trunk, weight = lam.decode_trunk(previous), lam._change_weight(previous, target)
            trained = lam.train()._search(trunk, previous, target, weight)
            evaluated = lam.eval()._search(trunk, previous, target, weight)
        assert torch.bincount(evaluated.reshape(-1), minlength=4).max() == 28  # one code for all
        assert (torch.bincount(trained.reshape(-1), minlength=4).min() >= 5) == (iterations > 0)
    with pytest.raises(ValueError, match="balance_iterations >= 0"):
        SearchOptions(balance_iterations=-1)


def test_persistent_e_step_keeps_codes_over_a_clip_in_training_only():
    """With ``persistence`` the training E-step is each clip's cheapest path with a penalty per change
    of code (fewer changes than the per-transition argmin), evaluation keeps the argmin, and the
    option refuses a negative value or the balanced E-step beside it."""
    torch.manual_seed(0)
    video = torch.rand(4, 8, 3, 16, 16)
    previous, target = video[:, :-1], video[:, 1:]
    lam = tiny_lam(search=SearchOptions(persistence=3.0))
    mix = torch.randn(4, 7, lam.quantizer.codes().shape[1])  # a fresh LAM's head barely tells codes apart:
    lam.decode_head = lambda trunk, frames, codes: (codes * mix).sum(-1)[..., None, None, None].expand_as(target)
    with torch.no_grad():  # each transition ranks the codes at random
        trunk, weight = lam.decode_trunk(previous), lam._change_weight(previous, target)
        trained = lam.train()._search(trunk, previous, target, weight)
        evaluated = lam.eval()._search(trunk, previous, target, weight)
    def changes(codes):
        return int((codes[:, 1:] != codes[:, :-1]).sum())
    assert changes(trained) < changes(evaluated)
    with pytest.raises(ValueError, match="persistence >= 0"):
        SearchOptions(persistence=-1.0)
    with pytest.raises(ValueError, match="both choose the E-step's codes"):
        SearchOptions(persistence=1.0, balance_iterations=3)


def test_search_needs_explicit_codes():
    from genie_lit.nn import FiniteScalarQuantizer

    with pytest.raises(ValueError, match="needs a VectorQuantizer"):
        LatentActionModel(encoder=STTransformer(dim=32, depth=1, num_heads=4),
                          decoder=STTransformer(dim=32, depth=1, num_heads=4),
                          quantizer=FiniteScalarQuantizer(levels=(2, 2, 2)), image_size=16, patch_size=4)


def test_lam_rejects_single_frames():
    with pytest.raises(ValueError, match="at least 2 frames"):
        tiny_lam().compute(torch.rand(1, 1, 3, 16, 16))


@pytest.mark.parametrize("conditioning", ["additive", "prepend"])
def test_dynamics_is_causal(conditioning):
    """Logits of frame t+1 do not change when frames (or actions) after t+1 change."""
    model = tiny_dynamics(conditioning).eval()
    tokens = torch.randint(0, 17, (2, 5, 6))
    actions = torch.randint(0, 5, (2, 5))
    changed_tokens, changed_actions = tokens.clone(), actions.clone()
    changed_tokens[:, 3:] = torch.randint(0, 17, changed_tokens[:, 3:].shape)
    changed_actions[:, 3:] = (changed_actions[:, 3:] + 1) % 5
    with torch.no_grad():
        a, b = model(tokens, actions), model(changed_tokens, changed_actions)
    assert a.shape == (2, 5, 6, 16)
    assert (a[:, :3] - b[:, :3]).abs().max() <= 1e-5
    assert (a[:, 3:] - b[:, 3:]).abs().max() > 1e-4


@pytest.mark.parametrize("conditioning", ["additive", "prepend"])
def test_dynamics_uses_the_action(conditioning):
    model = tiny_dynamics(conditioning).eval()
    tokens = torch.randint(0, 16, (1, 3, 6))
    with torch.no_grad():
        a = model(tokens, torch.tensor([[4, 0, 0]]))
        b = model(tokens, torch.tensor([[4, 0, 3]]))
    assert (a[:, :2] - b[:, :2]).abs().max() <= 1e-6 and (a[:, 2] - b[:, 2]).abs().max() > 1e-4


def test_dynamics_mask_rate_is_per_sample_and_spares_the_first_frame():
    model = tiny_dynamics()
    tokens = torch.zeros(64, 4, 100, dtype=torch.long)
    mask = model.random_mask(tokens, generator=torch.Generator().manual_seed(0))
    assert not mask[:, 0].any()
    rates = mask[:, 1:].float().mean(dim=(1, 2))  # 300 tokens per sample: each rate within ~0.03 of its r
    low, high = model.mask_rate
    assert (low, high) == (0.5, 1.0)  # the paper's U(0.5, 1)
    assert rates.min() > low - 0.07 and rates.max() <= high
    # uniform over [0.5, 1]: mean 0.75, std 0.144, a quarter of the samples in each quarter of the range
    assert abs(rates.mean().item() - 0.75) < 0.05 and 0.1 < rates.std().item() < 0.19
    quarters = torch.histc(rates.clamp(low, high), bins=4, min=low, max=high)
    assert quarters.min() >= 64 / 4 - 10, quarters
    # one rate per sample: the frames of a sample are masked at about the same rate
    per_frame = mask[:, 1:].float().mean(dim=2)
    assert (per_frame - rates[:, None]).abs().max() < 0.2


def test_dynamics_loss_only_on_masked_tokens():
    model = tiny_dynamics()
    tokens = torch.randint(0, 16, (2, 3, 2, 3))
    mask = torch.zeros(2, 3, 6, dtype=torch.bool)
    mask[:, 2, :2] = True
    out = model.compute(tokens, torch.randint(0, 4, (2, 2)), mask=mask)
    logits = out.logits[mask]
    expected = torch.nn.functional.cross_entropy(logits, tokens.reshape(2, 3, 6)[mask])
    assert torch.allclose(out.loss, expected)


def test_out_of_range_action_gives_the_valid_range():
    with pytest.raises(ValueError, match=r"action 7 is outside the valid range 0\.\.3"):
        tiny_dynamics().compute(torch.randint(0, 16, (1, 3, 6)), torch.tensor([[1, 7]]))


def test_token_grid_mismatch_is_refused():
    with pytest.raises(ValueError, match=r"expects 6 tokens per frame.*got 4"):
        tiny_dynamics().compute(torch.randint(0, 16, (1, 3, 2, 2)), torch.tensor([[1, 2]]))


@pytest.mark.parametrize("steps", [1, 4, 12])
def test_maskgit_unmasks_every_token_within_the_steps(steps):
    calls = []

    def logits_fn(tokens):
        calls.append((tokens == 50).sum().item())
        return torch.randn(tokens.shape[0], tokens.shape[1], 51)

    tokens = maskgit_sample(logits_fn, batch_size=3, num_tokens=37, mask_id=50, steps=steps,
                            generator=torch.Generator().manual_seed(0))
    assert len(calls) == steps and calls[0] == 3 * 37
    assert (tokens != 50).all() and tokens.max() < 50
    assert calls == sorted(calls, reverse=True)
    assert [masked_after_step(37, s, steps) for s in range(steps)][-1] == 0


def test_maskgit_is_deterministic_for_a_seed():
    logits = torch.randn(2, 10, 9)

    def sample(seed):
        return maskgit_sample(lambda t: logits, 2, 10, 8, steps=4, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(sample(1), sample(1))
    assert not torch.equal(sample(1), sample(2))


def test_maskgit_unmasks_the_most_confident_tokens_first_and_never_remasks_or_resamples_them():
    """Each position has its own token and confidence, and both change at every step (as a model's
    do once it sees the tokens already decoded); after the first step the order of confidence is
    reversed, so the tokens decided first become the least confident. A sampler that re-masked or
    re-sampled decided tokens, or kept the least confident masked ones, would fail here."""
    num_tokens, vocab, steps = 8, 6, 4
    seen = []

    def confidence(i: int, step: int) -> float:
        return 1.0 + (i if step == 0 else num_tokens - i)

    def logits_fn(tokens):
        seen.append(tokens.clone())
        step = len(seen) - 1
        logits = torch.full((1, num_tokens, vocab + 1), -5.0)
        for i in range(num_tokens):
            logits[0, i, (i + step) % vocab] = confidence(i, step)  # position i prefers (i + step) % vocab
        return logits

    tokens = maskgit_sample(logits_fn, 1, num_tokens, vocab, steps=steps, temperature=0.0)
    mask_id = vocab
    decided: dict[int, int] = {}
    for step, after in enumerate(seen[1:] + [tokens]):
        now = {i: int(t) for i, t in enumerate(after[0]) if t != mask_id}
        for i, token in decided.items():
            assert now.get(i) == token, f"step {step}: position {i} was re-masked or re-sampled"
        new = set(now) - set(decided)
        for i in new:
            assert now[i] == (i + step) % vocab  # sampled at the step it was unmasked
        still_masked = set(range(num_tokens)) - set(now)
        assert len(still_masked) == masked_after_step(num_tokens, step, steps)
        if new and still_masked:
            assert min(confidence(i, step) for i in new) >= max(confidence(i, step) for i in still_masked)
        decided.update({i: now[i] for i in new})
    assert len(decided) == num_tokens


def test_copy_prior_starts_as_copying_the_previous_frame_and_stays_causal():
    """At initialisation the gate's bias dominates: every frame's most likely tokens are the
    previous frame's; a frame's prior never reads a later frame."""
    model = tiny_dynamics(copy_prior=True, copy_init=8.0).eval()
    tokens = torch.randint(0, 16, (2, 4, 6))
    with torch.no_grad():
        logits = model(tokens, torch.randint(0, 5, (2, 4)))
        plain = tiny_dynamics().eval()(tokens, torch.randint(0, 5, (2, 4)))
    assert torch.equal(logits[:, 1:].argmax(-1), tokens[:, :-1])
    assert not torch.equal(plain[:, 1:].argmax(-1), tokens[:, :-1])
    # the first frame has no previous frame, and mask ids in ``previous`` get no bonus
    previous = torch.full_like(tokens, model.mask_id)
    with torch.no_grad():
        masked = model(tokens, torch.randint(0, 5, (2, 4)), previous=previous)
    assert (masked.max(-1).values < 8.0).all()


def test_change_weight_weighs_the_tokens_that_differ_from_the_previous_frame():
    tokens = torch.tensor([[[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 9]]])  # only the last token changes
    mask = torch.zeros(1, 2, 6, dtype=torch.bool)
    mask[:, 1] = True
    plain = tiny_dynamics().compute(tokens, torch.tensor([[1]]), mask=mask)
    weighted = tiny_dynamics(change_weight=3.0).compute(tokens, torch.tensor([[1]]), mask=mask)
    losses = torch.nn.functional.cross_entropy(plain.logits[mask], tokens[mask], reduction="none")
    weight = torch.tensor([1.0, 1, 1, 1, 1, 4])
    assert torch.allclose(weighted.loss, (weight * losses).sum() / weight.sum())
    assert torch.allclose(plain.loss, losses.mean())


def test_search_inference_reads_the_e_step_and_recovers_the_codes_that_made_a_clip():
    """A clip generated by the LAM's own decoder with known codes: search inference gives back
    those codes (the E-step), and compute() reports the same actions."""
    lam = tiny_lam(assignment="search", search=SearchOptions(inference="search")).eval()
    torch.nn.init.normal_(lam.head[-1].weight, std=0.3)  # the zero-initialised head would make every code tie
    codes = torch.tensor([[0, 3, 1, 2], [2, 2, 0, 1]])
    video = torch.rand(2, 1, 3, 16, 16)
    with torch.no_grad():
        for t in range(codes.shape[1]):  # x_{t+1} = the decoder's prediction from x_1..x_t with code c_t
            predicted = lam.predict_next(video, lam.quantizer.codes()[codes[:, :t + 1]])
            video = torch.cat((video, predicted[:, -1:]), dim=1)
        inferred = lam.infer_actions(video)
        out = lam.compute(video)
    assert torch.equal(inferred, codes) and torch.equal(out.actions, codes)
    with pytest.raises(ValueError, match="needs assignment='search'"):
        tiny_lam(assignment="nearest", search=SearchOptions(inference="search"))
