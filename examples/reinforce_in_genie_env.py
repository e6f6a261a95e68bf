"""Train an agent inside a learned world: REINFORCE in ``GenieEnv`` against a random-agent baseline.

A world learned from unlabelled video has no reward, so the task is ours to choose. Here it is a
toy one, "make the screen brighter": the reward of a step is the change of mean brightness. The
policy is a softmax over the latent actions from a linear map of the 8x8-pooled observation.

    python examples/reinforce_in_genie_env.py --ckpt runs/genie/checkpoints/last.ckpt \\
        --prompt frame.png --iterations 20 --episodes 4 --steps 16

It prints the random agent's mean return first, then the learning agent's per iteration. Any
library that speaks Gymnasium (Stable-Baselines3, CleanRL, ...) can take ``GenieEnv`` instead.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from genie_lit.play import GenieEnv
from genie_lit.play.agent import run_random_agent


def brightness_gain(prev_obs: np.ndarray, action: int, obs: np.ndarray) -> float:
    return float(obs.mean() - prev_obs.mean()) / 255.0


def features(obs: np.ndarray) -> torch.Tensor:
    """``h w 3`` uint8 -> 8x8x3 average-pooled values in [0, 1], flattened."""
    image = torch.as_tensor(obs, dtype=torch.float32).permute(2, 0, 1)[None] / 255
    return F.adaptive_avg_pool2d(image, 8).flatten()


def train(env, iterations: int, episodes: int, lr: float, seed: int = 0, log=print) -> torch.nn.Linear:
    """REINFORCE with the batch's mean return as baseline; returns the policy (logits from
    :func:`features`). ``env`` is any Gymnasium-style env with ``h w 3`` uint8 observations and a
    discrete action space."""
    policy = torch.nn.Linear(8 * 8 * 3, env.action_space.n)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    for iteration in range(iterations):
        log_probs, returns = [], []
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + 1000 * (iteration + 1) + episode)
            episode_log_probs, total, done = [], 0.0, False
            while not done:
                dist = torch.distributions.Categorical(logits=policy(features(obs)))
                action = dist.sample()
                obs, reward, terminated, truncated, _ = env.step(int(action))
                episode_log_probs.append(dist.log_prob(action))
                total += reward
                done = terminated or truncated
            log_probs.append(torch.stack(episode_log_probs).sum())
            returns.append(total)
        advantage = torch.tensor(returns) - float(np.mean(returns))  # the batch mean as baseline
        loss = -(torch.stack(log_probs) * advantage).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        log(f"iteration {iteration:3d}: mean return {np.mean(returns):+.4f}")
    return policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--prompt", help="image or video; default: a neutral built-in frame")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--episodes", type=int, default=4, help="episodes per policy update")
    parser.add_argument("--steps", type=int, default=16, help="steps per episode")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    env = GenieEnv(ckpt=args.ckpt, prompt=args.prompt, max_episode_steps=args.steps, reward_fn=brightness_gain,
                   maskgit_steps=2)
    baseline = run_random_agent(env, episodes=args.episodes, seed=args.seed)
    print(f"random agent: mean return {np.mean([e.episode_return for e in baseline]):+.4f}")
    train(env, args.iterations, args.episodes, args.lr, args.seed)


if __name__ == "__main__":
    main()
