"""The playable world's exact temporal KV cache (cached and full-recompute logits agree,
float32, max |diff| <= 1e-4), for both action conditionings.

Within the context length the cache equals ``use_cache=False`` (the dynamics recomputed over all
frames) and both worlds generate the same tokens. Beyond it the cache slides: every frame, at
every layer, attends to the last ``context_length`` frames, as in training; that equals the
dynamics recomputed over the *whole* history with that attention window (a layer's keys of an old
frame carry what that frame saw), not a recomputation over the last frames alone, which is what
``use_cache=False`` does there."""

from __future__ import annotations

import pytest
import torch

from genie_lit.models import DynamicsModel, Genie, LatentActionModel, VideoTokenizer
from genie_lit.nn import STTransformer, VectorQuantizer

CONTEXT = 4


def tiny_world(conditioning: str, use_cache: bool, parts: tuple | None = None,
               copy_prior: bool = False) -> tuple[Genie, tuple]:
    if parts is None:
        torch.manual_seed(0)
        tokenizer = VideoTokenizer(STTransformer(dim=32, depth=1, num_heads=2), STTransformer(dim=32, depth=1, num_heads=2),
                                   VectorQuantizer(codebook_size=32, dim=8), image_size=16, patch_size=4)
        lam = LatentActionModel(STTransformer(dim=32, depth=1, num_heads=2), STTransformer(dim=32, depth=1, num_heads=2),
                                VectorQuantizer(codebook_size=4, dim=8), image_size=16, patch_size=4)
        dynamics = DynamicsModel(STTransformer(dim=32, depth=2, num_heads=2), vocab_size=32, grid=(4, 4),
                                 num_actions=4, action_conditioning=conditioning, copy_prior=copy_prior)
        if copy_prior:  # a random gate, so that the bonus differs per token and a wrong "previous" shows
            torch.nn.init.normal_(dynamics.copy_gate.weight, std=1.0)
        parts = tuple(m.eval() for m in (tokenizer, lam, dynamics))
    world = Genie(*parts, context_length=CONTEXT, maskgit_steps=3, temperature=0.0, use_cache=use_cache)
    return world, parts


@pytest.mark.parametrize("conditioning,copy_prior", [("additive", False), ("prepend", False), ("additive", True)])
def test_cached_logits_equal_recomputation_through_the_sliding_context(conditioning, copy_prior):
    cached, parts = tiny_world(conditioning, use_cache=True, copy_prior=copy_prior)
    full, _ = tiny_world(conditioning, use_cache=False, parts=parts)
    prompt = torch.rand(1, 2, 3, 16, 16)
    cached.reset(prompt, seed=0)
    full.reset(prompt, seed=0)
    generator = torch.Generator().manual_seed(1)
    mask_id = parts[2].mask_id
    dynamics = parts[2]
    history_tokens, history_actions = cached._state["tokens"], cached._state["actions"]
    for step in range(3 * CONTEXT):  # well past the context length: the cache slides
        action = torch.tensor([step % 4])
        proposal = torch.randint(0, 32, (1, 16), generator=generator)
        proposal[torch.rand(1, 16, generator=generator) < 0.5] = mask_id  # a MaskGIT step's partly masked frame
        s = cached._state
        with torch.no_grad():
            through_cache = dynamics.frame_logits(proposal, action, s["position"], s["dyn_cache"],
                                                  previous=history_tokens[:, -1])
            banded = dynamics(torch.cat((history_tokens, proposal[:, None]), 1),
                              torch.cat((history_actions, action[:, None]), 1), window=CONTEXT)[:, -1]
            recomputed = full._recompute_logits(proposal, action)
        assert (through_cache - banded).abs().max() <= 1e-4, f"step {step}"
        within_context = s["position"] < CONTEXT
        if within_context:
            assert (through_cache - recomputed).abs().max() <= 1e-4, f"step {step}"
        cached.step(action)
        full.step(action)
        history_tokens = torch.cat((history_tokens, cached._state["tokens"][:, -1:]), 1)
        history_actions = torch.cat((history_actions, action[:, None]), 1)
        if within_context:
            assert torch.equal(cached._state["tokens"], full._state["tokens"]), f"step {step}"
