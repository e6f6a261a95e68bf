"""Discrete bottlenecks: a cosine-codebook VQ with dead-code restart, and FSQ.

Genie (Bruce et al., 2024, §2.1) quantises both video tokens and latent actions with VQ-VAE
objectives (van den Oord et al., 2017). :class:`VectorQuantizer` follows the improved-VQGAN recipe
(Yu et al., 2022): l2-normalised codes and inputs, straight-through gradients, and codes that
go unused for ``restart_after_steps`` training steps are re-seeded from current encoder outputs.
:class:`FiniteScalarQuantizer` (Mentzer et al., 2023) needs no codebook at all.

Both return a :class:`QuantizerOutput` and expose ``dim``, ``codebook_size`` and ``embed()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class QuantizerOutput:
    quantized: Tensor  # (..., dim), straight-through: forward = code, backward = identity
    indices: Tensor  # (...), int64
    loss: Tensor  # scalar codebook + commitment loss
    usage: Tensor  # fraction of the codebook used in this batch
    perplexity: Tensor  # exp(entropy) of the batch's code histogram


def histogram_stats(indices: Tensor, codebook_size: int) -> tuple[Tensor, Tensor, Tensor]:
    counts = torch.bincount(indices.reshape(-1), minlength=codebook_size).float()
    probs = counts / counts.sum().clamp_min(1.0)
    perplexity = torch.exp(-(probs * torch.log(probs.clamp_min(1e-10))).sum())
    usage = (counts > 0).float().mean()
    return counts, usage, perplexity


BALANCE_EPSILON = 0.1  # entropic temperature of balanced_assignment, on costs standardised per item


def balanced_assignment(costs: Tensor, iterations: int) -> Tensor:
    """Codes for ``N`` items from a ``K N`` cost matrix, pulled towards equal use of the ``K`` codes:
    ``iterations`` Sinkhorn-Knopp steps (SwAV's equipartition, Caron et al., 2020) on
    ``exp(-z / BALANCE_EPSILON)``, where ``z`` is each item's costs standardised across codes; each
    item's code is then drawn from its column of the transport plan (a near one-hot column gives its
    largest entry; items that rank the codes alike are split between them, which an argmax could
    not do). 0 iterations is the plain argmin; about 10 give near-equal use (3, SwAV's choice, a
    partial pull). Draws from torch's global generator. Returns ``N`` indices."""
    if iterations < 0:
        raise ValueError(f"balanced_assignment needs iterations >= 0, got {iterations}")
    if iterations == 0:
        return costs.argmin(dim=0)
    k, n = costs.shape
    z = (costs - costs.mean(0, keepdim=True)) / (costs.std(0, keepdim=True, unbiased=False) + 1e-8)
    log_plan = -z.double() / BALANCE_EPSILON
    for _ in range(iterations):
        log_plan = log_plan - log_plan.logsumexp(dim=1, keepdim=True) - math.log(k)  # each code carries 1/K
        log_plan = log_plan - log_plan.logsumexp(dim=0, keepdim=True) - math.log(n)  # each item carries 1/N
    return torch.multinomial(log_plan.t().softmax(dim=-1).float(), 1).squeeze(1)


def persistent_assignment(costs: Tensor, switch_cost: float) -> Tensor:
    """Codes for ``b`` sequences of ``t`` items from a ``K b t`` cost matrix, preferring to keep a
    code from one item to the next: per sequence, the path of codes with the least total cost plus
    a penalty per change of code (Viterbi over the ``K`` codes). The penalty is ``switch_cost``
    times the sequence's mean spread of costs (each item's mean over the codes minus its best), so
    it does not depend on the costs' scale. 0 is the plain argmin; above 0 a change of code survives
    only where the items after it favour the new code by more than the penalty in total.
    Returns ``b t`` indices."""
    if switch_cost < 0:
        raise ValueError(f"persistent_assignment needs switch_cost >= 0, got {switch_cost}")
    if switch_cost == 0:
        return costs.argmin(dim=0)
    k, b, t = costs.shape
    c = costs.double()
    penalty = switch_cost * (c.mean(0) - c.amin(0)).mean(-1)  # b
    codes = torch.arange(k, device=costs.device)[:, None]
    total, back = c[:, :, 0], []  # best total of a path ending in each code: K b
    for i in range(1, t):
        best, best_code = total.min(dim=0)
        switch = best + penalty
        stay = total <= switch
        back.append(torch.where(stay, codes, best_code[None]))
        total = torch.where(stay, total, switch[None]) + c[:, :, i]
    path = [total.argmin(dim=0)]
    for pointers in reversed(back):
        path.append(pointers.gather(0, path[-1][None])[0])
    return torch.stack(path[::-1], dim=1)


class VectorQuantizer(nn.Module):
    """VQ with an l2-normalised codebook, commitment loss and dead-code restart.

    Args:
        codebook_size: number of codes.
        dim: code dimension.
        commitment_weight: beta, the weight of ``||z - sg(e)||^2``.
        restart_after_steps: a code unused (over all processes) for this many training steps is
            replaced by a randomly chosen encoder output of the current batch. 0 disables it.
        normalize: l2-normalise inputs and codes (cosine similarity lookup).
    """

    def __init__(
        self,
        codebook_size: int = 1024,
        dim: int = 32,
        commitment_weight: float = 0.25,
        restart_after_steps: int = 100,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        self.codebook_size, self.dim = codebook_size, dim
        self.commitment_weight = commitment_weight
        self.restart_after_steps = restart_after_steps
        self.normalize = normalize
        self.codebook = nn.Parameter(F.normalize(torch.randn(codebook_size, dim), dim=-1))
        self.register_buffer("steps_unused", torch.zeros(codebook_size, dtype=torch.long))
        self.register_buffer("restarts", torch.zeros((), dtype=torch.long))

    def codes(self) -> Tensor:
        return F.normalize(self.codebook, dim=-1) if self.normalize else self.codebook

    def relax(self, z: Tensor) -> Tensor:
        """The continuous value a code would approximate (for a warm-up without quantisation)."""
        return F.normalize(z, dim=-1) if self.normalize else z

    def embed(self, indices: Tensor) -> Tensor:
        """Code vectors for integer ``indices`` (any shape) -> ``(..., dim)``."""
        return self.codes()[indices]

    def forward(self, z: Tensor) -> QuantizerOutput:
        shape = z.shape[:-1]
        flat = z.reshape(-1, self.dim).float()
        codes = self.codes().float()
        if self.normalize:
            flat = F.normalize(flat, dim=-1)
            indices = (flat @ codes.t()).argmax(dim=-1)
        else:
            distances = flat.pow(2).sum(-1, keepdim=True) - 2 * flat @ codes.t() + codes.pow(2).sum(-1)
            indices = distances.argmin(dim=-1)
        chosen = codes[indices]
        loss = F.mse_loss(chosen, flat.detach()) + self.commitment_weight * F.mse_loss(flat, chosen.detach())
        quantized = flat + (chosen - flat).detach()
        counts, usage, perplexity = histogram_stats(indices, self.codebook_size)
        if self.training and self.restart_after_steps > 0:
            self._restart_dead_codes(counts, flat.detach())
        return QuantizerOutput(
            quantized.reshape(*shape, self.dim).to(z.dtype), indices.reshape(shape), loss, usage, perplexity
        )

    @torch.no_grad()
    def track_usage(self, indices: Tensor, candidates: Tensor, noise: float = 1e-3) -> None:
        """Count uses of externally chosen ``indices`` and restart codes unused for
        ``restart_after_steps`` calls from ``candidates`` (``N x dim``) plus ``noise``."""
        self._restart_dead_codes(histogram_stats(indices, self.codebook_size)[0], candidates, noise)

    @torch.no_grad()
    def _restart_dead_codes(self, counts: Tensor, candidates: Tensor, noise: float = 1e-3) -> None:
        distributed = dist.is_available() and dist.is_initialized()
        if distributed:  # every process must see the same usage, or codebooks drift apart
            dist.all_reduce(counts)
        self.steps_unused.copy_(torch.where(counts > 0, 0, self.steps_unused + 1))
        dead = self.steps_unused >= self.restart_after_steps
        num_dead = int(dead.sum())
        if num_dead == 0:
            return
        picks = torch.randint(0, candidates.shape[0], (num_dead,), device=candidates.device)
        fresh = candidates[picks] + noise * torch.randn_like(candidates[picks])
        if distributed:
            dist.broadcast(fresh, src=0)
        self.codebook.data[dead] = fresh.to(self.codebook.dtype)
        self.steps_unused[dead] = 0
        self.restarts += num_dead

    @torch.no_grad()
    def init_from(self, samples: Tensor, iterations: int = 20) -> None:
        """Re-seed the whole codebook by k-means (cosine) on ``samples`` ``(N, dim)``.

        Used after a continuous warm-up so every code starts on a populated mode of the data.
        """
        flat = samples.reshape(-1, self.dim).float()
        if self.normalize:
            flat = F.normalize(flat, dim=-1)
        centroids = _kmeans(flat, self.codebook_size, iterations, cosine=self.normalize)
        if dist.is_available() and dist.is_initialized():
            dist.broadcast(centroids, src=0)
        self.codebook.data.copy_(centroids.to(self.codebook.dtype))
        self.steps_unused.zero_()


def _kmeans(x: Tensor, k: int, iterations: int, cosine: bool) -> Tensor:
    """k-means++-seeded Lloyd iterations; returns ``(k, dim)`` centroids."""
    generator = torch.Generator(device="cpu").manual_seed(0)
    first = int(torch.randint(0, x.shape[0], (1,), generator=generator))
    centroids = [x[first]]
    for _ in range(1, k):
        d2 = torch.cdist(x, torch.stack(centroids)).pow(2).min(dim=1).values
        if float(d2.sum()) <= 0:
            centroids.append(x[int(torch.randint(0, x.shape[0], (1,), generator=generator))])
            continue
        centroids.append(x[int(torch.multinomial(d2.cpu(), 1, generator=generator))])
    c = torch.stack(centroids)
    for _ in range(iterations):
        assign = torch.cdist(x, c).argmin(dim=1)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(0)
        if cosine:
            c = F.normalize(c, dim=-1)
    return c


class FiniteScalarQuantizer(nn.Module):
    """FSQ: bound each of ``len(levels)`` dimensions and round it to ``levels[i]`` values.

    The implicit codebook has ``prod(levels)`` entries and cannot collapse by construction of a
    codebook (every code is always representable); there is no auxiliary loss.
    """

    def __init__(self, levels: tuple[int, ...] = (8, 5, 5, 5)) -> None:
        super().__init__()
        if any(level < 2 for level in levels):
            raise ValueError(f"every FSQ level must be >= 2, got {levels}")
        self.levels = list(levels)
        self.dim = len(levels)
        self.codebook_size = math.prod(levels)
        self.register_buffer("_levels", torch.tensor(levels, dtype=torch.float32), persistent=False)
        basis = torch.cumprod(torch.tensor([1, *levels[:-1]], dtype=torch.long), dim=0)
        self.register_buffer("_basis", basis, persistent=False)

    def _bound(self, z: Tensor) -> Tensor:
        half = (self._levels - 1) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half)
        return torch.tanh(z + shift) * half - offset

    def relax(self, z: Tensor) -> Tensor:
        """The bounded, unrounded value (for a warm-up without quantisation)."""
        return self._bound(z.float()) / torch.div(self._levels, 2, rounding_mode="floor")

    def forward(self, z: Tensor) -> QuantizerOutput:
        bounded = self._bound(z.float())
        rounded = bounded + (bounded.round() - bounded).detach()
        half_width = torch.div(self._levels, 2, rounding_mode="floor")
        quantized = rounded / half_width
        indices = ((rounded.round() + half_width).long() * self._basis).sum(-1)
        _, usage, perplexity = histogram_stats(indices, self.codebook_size)
        return QuantizerOutput(quantized.to(z.dtype), indices, z.new_zeros(()), usage, perplexity)

    def embed(self, indices: Tensor) -> Tensor:
        half_width = torch.div(self._levels, 2, rounding_mode="floor")
        digits = torch.remainder(torch.div(indices[..., None], self._basis, rounding_mode="floor"), self._levels.long())
        return (digits.float() - half_width) / half_width
