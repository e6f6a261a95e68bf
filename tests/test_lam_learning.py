"""The latent action model *learns*: on video of a square moved by recorded actions, with a
bouncing ball it does not control (the Atari failure in miniature: a predictable distractor that
moves every frame), its latent actions share information with the true actions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genie_lit.evaluation.latent_actions import joint_table, permutation_nmi
from genie_lit.metrics.latent_actions import normalized_mutual_information
from genie_lit.models import LatentActionModel, SearchOptions
from genie_lit.nn import STTransformer, VectorQuantizer
from videos import moving_square_frames


def square_and_ball(num_frames: int, seed: int = 1) -> tuple[torch.Tensor, np.ndarray]:
    """``t c h w`` in [0, 1] (32x32) and the square's actions; the ball bounces at constant speed."""
    frames, actions = moving_square_frames(num_frames, 32, 32, seed=seed)
    frames = frames.copy()
    y, x, vy, vx = 5, 20, 1, 2
    for frame in frames:
        frame[y:y + 2, x:x + 2] = (40, 240, 240)
        vy = -vy if not 0 <= y + vy <= 30 else vy
        vx = -vx if not 0 <= x + vx <= 30 else vx
        y, x = y + vy, x + vx
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255, actions


@pytest.mark.slow
@pytest.mark.parametrize("assignment,action_inference",
                         [("search", "encoder"), ("search", "search"), ("continuous", "encoder")])
def test_lam_finds_the_controlled_square_despite_a_distractor(assignment, action_inference):
    """The hard-EM LAM (its codes read by the encoder or the E-step) and the continuous LAM with a
    discrete head (LAOM's lever; its codebook k-means seeded after 100 steps)."""
    torch.manual_seed(1)
    video, actions = square_and_ball(600)
    lam = LatentActionModel(STTransformer(dim=32, depth=1, num_heads=2), STTransformer(dim=32, depth=1, num_heads=2),
                            VectorQuantizer(codebook_size=8, dim=8, restart_after_steps=20), image_size=32,
                            patch_size=4, assignment=assignment, change_weight=0.0, warmup_steps=100,
                            search=SearchOptions(head_hidden=64, inference=action_inference))
    optimizer = torch.optim.AdamW(lam.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(0)
    clip = 4
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic on every machine of this kind
    try:
        for _ in range(300):
            starts = torch.randint(0, 500, (8,), generator=generator)
            out = lam.train().compute(torch.stack([video[s:s + clip] for s in starts]))
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
        held_out = range(500, 596, clip - 1)
        codes = lam.eval().infer_actions(torch.stack([video[s:s + clip] for s in held_out])).reshape(-1).numpy()
    finally:
        torch.set_num_threads(threads)
    true = np.concatenate([actions[s:s + clip - 1] for s in held_out])
    nmi = normalized_mutual_information(joint_table(codes, true, 8, 5))
    chance = permutation_nmi(codes, true, 8, 5, permutations=20, seed=0)
    print(f"{assignment}/{action_inference}: NMI {nmi:.3f} (chance {chance:.3f})")
    assert nmi > 0.2 and nmi > 5 * chance, (nmi, chance)
