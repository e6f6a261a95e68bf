"""MaskGIT iterative decoding of one frame's tokens (Chang et al., 2022; Genie §2.1 "Dynamics").

Start with every token of the new frame masked. At step ``s`` of ``S`` predict all masked
tokens, sample them (softmax with ``temperature``; greedy at 0), and keep only the most
confident ones: after step ``s`` exactly ``floor(N * cos(pi/2 * (s+1)/S))`` tokens stay masked
(the cosine schedule), so the last step unmasks everything. Confidence is the sampled token's
probability, optionally perturbed by Gumbel noise that anneals to zero (``remask_noise``).
Deterministic for a given ``torch.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

# The defaults that the world, evaluation, the validation callbacks and play all share.
MASKGIT_STEPS = 8
MASKGIT_TEMPERATURE = 1.0


def masked_after_step(num_tokens: int, step: int, steps: int) -> int:
    """Tokens still masked after 0-based ``step`` of ``steps`` (cosine schedule)."""
    return int(math.floor(num_tokens * math.cos(math.pi / 2 * (step + 1) / steps)))


@torch.no_grad()
def maskgit_sample(
    logits_fn: Callable[[Tensor], Tensor],
    batch_size: int,
    num_tokens: int,
    mask_id: int,
    steps: int = MASKGIT_STEPS,
    temperature: float = MASKGIT_TEMPERATURE,
    remask_noise: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Decode ``b n`` token ids; ``logits_fn(tokens b n) -> logits b n V`` sees ``mask_id`` holes."""
    if steps < 1:
        raise ValueError(f"MaskGIT needs at least 1 step, got {steps}")
    tokens = torch.full((batch_size, num_tokens), mask_id, dtype=torch.long, device=device)
    for step in range(steps):
        masked = tokens == mask_id
        logits = logits_fn(tokens).float()
        logits[..., mask_id:] = -math.inf  # never predict the mask token itself
        if temperature > 0:
            probs = torch.softmax(logits / temperature, dim=-1)
            sampled = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
            sampled = sampled.reshape(batch_size, num_tokens)
        else:
            probs = torch.softmax(logits, dim=-1)
            sampled = logits.argmax(dim=-1)
        confidence = probs.gather(-1, sampled[..., None]).squeeze(-1).log()
        if remask_noise > 0:
            anneal = remask_noise * (1 - (step + 1) / steps)
            uniform = torch.rand(confidence.shape, generator=generator, device=confidence.device)
            confidence = confidence + anneal * -torch.log(-torch.log(uniform.clamp(1e-20, 1 - 1e-7)))
        confidence = torch.where(masked, confidence, torch.full_like(confidence, math.inf))
        candidate = torch.where(masked, sampled, tokens)
        keep_masked = masked_after_step(num_tokens, step, steps)
        if keep_masked > 0:
            lowest = confidence.topk(keep_masked, dim=-1, largest=False).indices
            candidate.scatter_(-1, lowest, mask_id)
        tokens = candidate
    return tokens
