"""Behaviours of the pure-torch layer: causality, isolation of frames, caches, quantisers."""

import itertools

import pytest
import torch

from genie_lit.nn import (
    FiniteScalarQuantizer,
    SpacetimeTransformer,
    SpatialTransformer,
    STTransformer,
    VectorQuantizer,
    balanced_assignment,
    patchify,
    persistent_assignment,
    unpatchify,
)

BACKBONES = [STTransformer, SpatialTransformer, SpacetimeTransformer]


def _backbone(cls, seed=0):
    torch.manual_seed(seed)
    return cls(dim=32, depth=2, num_heads=4).eval()


def test_patchify_round_trip():
    video = torch.rand(2, 3, 3, 16, 24)
    tokens = patchify(video, 4)
    assert tokens.shape == (2, 3, 4 * 6, 3 * 16)
    assert torch.equal(unpatchify(tokens, 4, 16, 24), video)


def test_patchify_rejects_indivisible_frames():
    with pytest.raises(ValueError, match="not divisible by patch_size=5"):
        patchify(torch.rand(1, 1, 3, 16, 16), 5)


@pytest.mark.parametrize("cls", [STTransformer, SpacetimeTransformer])
@pytest.mark.parametrize("t", [0, 2, 4])
def test_backbones_are_causal_in_time(cls, t):
    model = _backbone(cls)
    x = torch.randn(2, 6, 5, 32)
    changed = x.clone()
    changed[:, t + 1:] = torch.randn_like(changed[:, t + 1:])
    with torch.no_grad():
        out, out_changed = model(x), model(changed)
    assert (out[:, : t + 1] - out_changed[:, : t + 1]).abs().max() <= 1e-6
    assert (out[:, t + 1:] - out_changed[:, t + 1:]).abs().max() > 1e-3  # later frames do see the change


def test_spatial_transformer_mixes_nothing_across_frames():
    model = _backbone(SpatialTransformer)
    x = torch.randn(2, 5, 6, 32)
    changed = x.clone()
    changed[:, 2] = torch.randn_like(changed[:, 2])
    with torch.no_grad():
        out, out_changed = model(x), model(changed)
    others = [0, 1, 3, 4]
    assert torch.equal(out[:, others], out_changed[:, others])
    # and each frame alone gives the same output as inside the clip
    with torch.no_grad():
        alone = model(x[:, 3:4])
    assert (alone[:, 0] - out[:, 3]).abs().max() <= 1e-6


def test_st_transformer_mixes_positions_within_a_frame():
    model = _backbone(STTransformer)
    x = torch.randn(1, 2, 6, 32)
    changed = x.clone()
    changed[:, 0, 0] = torch.randn(32)
    with torch.no_grad():
        delta = (model(x) - model(changed))[:, 0, 1:].abs().max()
    assert delta > 1e-4


@pytest.mark.parametrize("cls", BACKBONES)
def test_kv_cache_equals_recompute(cls):
    """Feeding frames one at a time through the cache gives the full forward's outputs."""
    model = _backbone(cls)
    x = torch.randn(2, 5, 4, 32)
    with torch.no_grad():
        full = model(x)
        cache = model.new_cache()
        steps = [model(x[:, i:i + 1], positions=torch.tensor([i]), cache=cache, commit=True) for i in range(5)]
    assert (torch.cat(steps, dim=1) - full).abs().max() <= 1e-5


@pytest.mark.parametrize("cls", [STTransformer, SpacetimeTransformer])
def test_sliding_window_cache_equals_banded_recompute(cls):
    """Beyond the window the cache keeps the last `window` frames; recomputing the whole clip with
    the same banded time mask gives identical outputs, and memory stays bounded."""
    model = _backbone(cls)
    window, frames = 3, 8
    x = torch.randn(1, frames, 4, 32)
    with torch.no_grad():
        banded = model(x, window=window)
        cache = model.new_cache(window=window)
        steps = []
        for i in range(frames):
            # a query that is not committed must not change the cache
            model(torch.randn_like(x[:, i:i + 1]), positions=torch.tensor([i]), cache=cache)
            steps.append(model(x[:, i:i + 1], positions=torch.tensor([i]), cache=cache, commit=True))
    assert (torch.cat(steps, dim=1) - banded).abs().max() <= 1e-5
    assert cache[0].num_frames == window - 1
    assert (banded - model(x)).abs().max() > 1e-4  # the window really is narrower than causal


def test_vector_quantizer_straight_through_and_stats():
    vq = VectorQuantizer(codebook_size=16, dim=8, restart_after_steps=0)
    z = torch.randn(4, 10, 8, requires_grad=True)
    out = vq(z)
    assert out.quantized.shape == z.shape and out.indices.shape == (4, 10)
    assert torch.allclose(out.quantized, vq.embed(out.indices), atol=1e-6)
    out.quantized.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert 0 < out.usage <= 1 and 1 <= out.perplexity <= 16


def test_vector_quantizer_revives_dead_codes():
    torch.manual_seed(0)
    vq = VectorQuantizer(codebook_size=8, dim=4, restart_after_steps=3).train()
    with torch.no_grad():  # every code but 0 points away from the data
        vq.codebook.data[:] = torch.tensor([1.0, 0, 0, 0])
        vq.codebook.data[1:] = torch.tensor([-1.0, 0, 0, 0])
    data = torch.tensor([1.0, 0, 0, 0]) + 0.3 * torch.randn(256, 4)
    data[:, 0] = data[:, 0].abs() + 0.5
    first = vq(data)
    assert first.usage == pytest.approx(1 / 8)
    for _ in range(3):
        vq(data)
    assert int(vq.restarts) == 7
    assert vq(data).usage > 1 / 8


def test_vector_quantizer_kmeans_init_uses_every_code():
    vq = VectorQuantizer(codebook_size=4, dim=2, restart_after_steps=0)
    centers = torch.tensor([[1.0, 0], [0, 1.0], [-1.0, 0], [0, -1.0]])
    samples = (centers[:, None] + 0.05 * torch.randn(4, 50, 2)).reshape(-1, 2)
    vq.init_from(samples)
    assert vq(samples).usage == 1.0


def test_persistent_assignment_is_the_cheapest_path_with_a_penalty_per_change():
    """0 is the plain argmin; otherwise each sequence's codes are the path that minimises its total
    cost plus the penalty per change (checked against every path), so a lone item that barely
    prefers another code keeps its neighbours' code while a clear change survives; the penalty
    follows the costs' scale."""
    torch.manual_seed(0)
    costs = torch.rand(3, 2, 5, dtype=torch.float64)
    assert torch.equal(persistent_assignment(costs, 0.0), costs.argmin(0))
    for switch_cost in (0.3, 1.0, 3.0):
        penalty = switch_cost * (costs.mean(0) - costs.amin(0)).mean(-1)
        got = persistent_assignment(costs, switch_cost)
        for j in range(2):
            def total(path):
                return (sum(float(costs[a, j, i]) for i, a in enumerate(path))
                        + float(penalty[j]) * sum(a != b for a, b in zip(path, path[1:])))
            best = min(itertools.product(range(3), repeat=5), key=total)
            assert total(tuple(got[j].tolist())) == pytest.approx(total(best))
    held = torch.ones(2, 1, 6)
    held[0, 0, :3] = 0.0  # code 0 for three items, then code 1 for three: a clear change
    held[1, 0, 3:] = 0.0
    held[0, 0, 1] = 0.6  # item 1 barely prefers code 1
    held[1, 0, 1] = 0.5
    assert held.argmin(0)[0].tolist() == [0, 1, 0, 1, 1, 1]
    assert persistent_assignment(held, 1.0)[0].tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.equal(persistent_assignment(1000 * held, 1.0), persistent_assignment(held, 1.0))
    assert persistent_assignment(held, 100.0)[0].unique().numel() == 1
    with pytest.raises(ValueError, match="switch_cost >= 0"):
        persistent_assignment(held, -1.0)


def test_balanced_assignment_pulls_towards_equal_code_use():
    """One code explains most items a little better: the argmin gives it nearly all of them,
    the balanced assignment spreads them over every code, more so with more iterations, and
    an item keeps its best code when the balance allows it."""
    torch.manual_seed(0)
    costs = 0.3 * torch.randn(8, 240)
    costs[0] -= 1.0
    assert torch.equal(balanced_assignment(costs, 0), costs.argmin(0))
    plain = torch.bincount(costs.argmin(0), minlength=8)
    partial = torch.bincount(balanced_assignment(costs, 3), minlength=8)
    near_equal = torch.bincount(balanced_assignment(costs, 10), minlength=8)
    assert plain[0] > 200 and plain.min() == 0
    assert partial.max() < plain.max() and partial.min() > 0
    assert near_equal.max() <= 1.25 * 240 / 8 and near_equal.min() >= 0.75 * 240 / 8
    clear = torch.eye(8).repeat(1, 30)  # item i is cheap on every code but i % 8: the balanced choice
    assert torch.equal(balanced_assignment(-clear, 10), clear.argmax(0))  # is everyone's best
    with pytest.raises(ValueError, match="iterations >= 0"):
        balanced_assignment(costs, -1)


def test_fsq_round_trip_and_range():
    fsq = FiniteScalarQuantizer(levels=(8, 5, 3))
    assert fsq.codebook_size == 120 and fsq.dim == 3
    out = fsq(torch.randn(64, 3) * 3)
    assert torch.allclose(fsq.embed(out.indices), out.quantized, atol=1e-6)
    assert out.indices.min() >= 0 and out.indices.max() < 120
