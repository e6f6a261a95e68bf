"""The playable Genie world (Bruce et al., 2024, §2.2 "Inference"): prompt it with frames, step it
with latent actions; and the rollouts that validation and evaluation measure (§3 "Metrics").

A :class:`Genie` is built from a co-training checkpoint (:meth:`Genie.from_checkpoint`) or from
the live parts of a :class:`~genie_lit.models.GenieCoTraining` module (:func:`build_world`).
:func:`rollout_pair` makes the two rollouts ΔtPSNR compares; the validation callbacks and
``genie-lit evaluate`` both use it, so the two measure the same thing.
"""

from __future__ import annotations

from typing import Any

import torch
from einops import rearrange
from torch import Tensor

from genie_lit.models.checkpoints import CheckpointError, freeze
from genie_lit.models.cotraining import TOKENIZER_HPARAMS_KEY, GenieCoTraining, check_compatible
from genie_lit.models.dynamics import DynamicsModel
from genie_lit.models.lam import LatentActionModel
from genie_lit.models.maskgit import MASKGIT_STEPS, MASKGIT_TEMPERATURE, maskgit_sample
from genie_lit.models.tokenizer import VideoTokenizer

SEED_STRIDE = 1_000_003  # clip seeds: seed * stride + index (distinct for any realistic validation set)


class Genie(torch.nn.Module):
    """The playable world: prompt it with frames, then step it with latent actions.

    Built from a co-training checkpoint with :meth:`from_checkpoint`. ``reset(prompt)`` takes one
    or more frames (``c h w``, ``t c h w`` or ``b t c h w``, float in [0, 1] or uint8, any size:
    they are resized), ``step(action)`` returns the next frame, ``rollout(actions)`` a clip, and
    ``infer_actions(clip)`` the LAM's actions for a real clip.

    Each new frame is decoded by MaskGIT (``maskgit_steps``, ``temperature``) against an exact
    temporal KV cache of the frames already generated, so each step runs only the new frame's
    tokens. Beyond ``context_length`` frames (default: the dynamics model's training clip length)
    the cache slides, every frame attending to the last ``context_length`` frames.
    ``use_cache=False`` recomputes the whole context at every MaskGIT step instead (for checks
    and benchmarks); within ``context_length`` frames the two agree exactly. Beyond it the cache
    equals the dynamics over the whole history with an attention window of ``context_length``
    (``DynamicsModel(..., window=...)``), while ``use_cache=False`` recomputes the last frames alone.
    """

    def __init__(self, tokenizer: VideoTokenizer, lam: LatentActionModel, dynamics: DynamicsModel,
                 context_length: int | None = None, maskgit_steps: int = MASKGIT_STEPS,
                 temperature: float = MASKGIT_TEMPERATURE,
                 remask_noise: float = 0.0, use_cache: bool = True, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        check_compatible(tokenizer, lam, dynamics)
        self.tokenizer, self.lam, self.dynamics = tokenizer, lam, dynamics  # not frozen: callbacks use live modules
        self.context_length = context_length or int(dynamics.context_frames) or 16
        self.decoder_context = int(tokenizer.context_frames) or self.context_length
        self.maskgit_steps, self.temperature, self.remask_noise = maskgit_steps, temperature, remask_noise
        self.use_cache, self.dtype = use_cache, dtype
        self._state: dict[str, Any] | None = None

    @classmethod
    def from_checkpoint(cls, path: str, map_location: str | torch.device = "cpu", **kwargs: Any) -> Genie:
        """A world from a ``GenieCoTraining`` checkpoint (tokenizer included; no pickled code runs)."""
        from genie_lit.models.checkpoints import build_from_checkpoint, read_checkpoint

        checkpoint = read_checkpoint(path, "world checkpoint")
        if TOKENIZER_HPARAMS_KEY not in checkpoint:
            raise CheckpointError(f"world checkpoint {path} is not a co-training checkpoint (no tokenizer inside); "
                                  "train one with `genie-lit fit --config configs/genie/cotrain.yaml`")
        tokenizer_ckpt = {"hyper_parameters": checkpoint[TOKENIZER_HPARAMS_KEY], "state_dict": {
            k[len("tokenizer."):]: v for k, v in checkpoint["state_dict"].items() if k.startswith("tokenizer.")}}
        tokenizer = build_from_checkpoint(tokenizer_ckpt, VideoTokenizer, path, "tokenizer inside")
        checkpoint["hyper_parameters"] = {**checkpoint["hyper_parameters"], "tokenizer_ckpt": None}
        state = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("tokenizer.")}
        cotrain = build_from_checkpoint({**checkpoint, "state_dict": state}, GenieCoTraining, path, "world checkpoint")
        world = cls(freeze(tokenizer), freeze(cotrain.lam), freeze(cotrain.dynamics), **kwargs)
        if world.lam.input_type == "tokens":  # a token-input LAM reads the world's own tokenizer
            world.lam.attach_tokenizer(world.tokenizer)
        return world.to(map_location)

    # ------------------------------------------------------------------------ properties
    @property
    def num_actions(self) -> int:
        return self.dynamics.num_actions

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.tokenizer.image_size)

    @property
    def device(self) -> torch.device:
        return self.dynamics.pos_embed.device

    @property
    def frame_index(self) -> int:
        """Index of the next frame to generate (number of frames so far)."""
        return 0 if self._state is None else self._state["position"]

    # ------------------------------------------------------------------------------ play
    def prepare(self, frames: Any) -> Tensor:
        """Any frames -> ``b t c h w`` float in [0, 1] at the world's resolution, on its device."""
        video = torch.as_tensor(frames)
        if video.dtype == torch.uint8:
            video = video.float() / 255
        video = video.float()
        if video.ndim == 3:
            video = video[None]
        if video.ndim == 4:
            video = video[None]
        if video.ndim != 5:
            raise ValueError(f"frames must be (c h w), (t c h w) or (b t c h w); got shape {tuple(video.shape)}")
        if video.shape[2] != self.tokenizer.channels and video.shape[-1] == self.tokenizer.channels:
            video = rearrange(video, "b t h w c -> b t c h w")  # channels-last arrays (images, video frames)
        if video.shape[2] == 1:
            video = video.expand(-1, -1, 3, -1, -1)
        if tuple(video.shape[-2:]) != self.image_size:
            b = video.shape[0]
            flat = rearrange(video, "b t c h w -> (b t) c h w")
            flat = torch.nn.functional.interpolate(flat, size=self.image_size, mode="area"
                                                   if flat.shape[-1] >= self.image_size[1] else "bilinear")
            video = rearrange(flat, "(b t) c h w -> b t c h w", b=b)
        return video.clamp(0, 1).to(self.device)

    def _autocast(self):
        if self.dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.dtype)

    @torch.no_grad()
    def reset(self, prompt: Any, seed: int | None = None, actions: Any | None = None) -> Tensor:
        """Start a new episode from ``prompt`` frames; returns the world's rendition of the last one.
        The actions between prompt frames are the LAM's unless given (``b (t-1)``, e.g. the
        recorded true actions for a world whose dynamics learned those)."""
        video = self.prepare(prompt)[:, -self.context_length:]
        b, t = video.shape[:2]
        with self._autocast():
            tokens = self.tokenizer.encode(video).reshape(b, t, -1)
            if actions is not None:
                actions = torch.as_tensor(actions, device=self.device).long().reshape(b, -1)[:, -(t - 1):][:, :t - 1]
            elif t > 1:
                actions = self.lam.infer_actions(video)
            else:
                actions = video.new_zeros(b, 0, dtype=torch.long)
            into = self.dynamics.actions_into_frames(actions)
            dyn_cache = self.dynamics.backbone.new_cache(window=self.context_length)
            dec_cache = self.tokenizer.decoder.new_cache(window=self.decoder_context)
            positions = torch.arange(t, device=self.device)
            if self.use_cache:
                self.dynamics(tokens, into, positions=positions, cache=dyn_cache, commit=True)
            frames = self.tokenizer.decode(tokens.reshape(b, t, *self.tokenizer.grid), cache=dec_cache,
                                           positions=positions, commit=True)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31, (1,))))
        self._state = {"position": t, "tokens": tokens, "actions": into, "dyn_cache": dyn_cache,
                       "dec_cache": dec_cache, "generator": generator, "batched": torch.as_tensor(prompt).ndim == 5}
        return self._output(frames[:, -1])

    def _output(self, frames: Tensor) -> Tensor:
        return frames.float() if self._state["batched"] else frames[0].float()

    def check_actions(self, actions: Any) -> None:
        """Refuse actions outside ``0..num_actions-1`` (:meth:`DynamicsModel.check_actions`, the one
        place the range is checked)."""
        self.dynamics.check_actions(torch.as_tensor(actions).long().reshape(-1))

    def _actions(self, action: Any, batch: int) -> Tensor:
        action = torch.as_tensor(action, device=self.device).long().reshape(-1)
        if action.numel() == 1:
            action = action.expand(batch)
        if action.numel() != batch:
            raise ValueError(f"got {action.numel()} actions for a batch of {batch} worlds")
        self.dynamics.check_actions(action)
        return action

    @torch.no_grad()
    def step(self, action: Any) -> Tensor:
        """Generate the next frame entered by ``action`` (int, or one per batch element) in 0..A-1."""
        if self._state is None:
            raise RuntimeError("call reset(prompt) before step(action)")
        s = self._state
        b, position = s["tokens"].shape[0], s["position"]
        action = self._actions(action, b)
        with self._autocast():
            if self.use_cache:
                logits_fn = lambda tok: self.dynamics.frame_logits(  # noqa: E731
                    tok, action, position, s["dyn_cache"], previous=s["tokens"][:, -1])
            else:
                logits_fn = lambda tok: self._recompute_logits(tok, action)  # noqa: E731
            new = maskgit_sample(logits_fn, b, self.dynamics.tokens_per_frame, self.dynamics.mask_id,
                                 self.maskgit_steps, self.temperature, self.remask_noise, s["generator"], self.device)
            if self.use_cache:
                self.dynamics.frame_logits(new, action, position, s["dyn_cache"], commit=True)
            keep = self.context_length - 1
            s["tokens"] = torch.cat((s["tokens"][:, -keep:] if keep else s["tokens"][:, :0], new[:, None]), dim=1)
            s["actions"] = torch.cat((s["actions"][:, -keep:] if keep else s["actions"][:, :0], action[:, None]), dim=1)
            grid = new.reshape(b, 1, *self.tokenizer.grid)
            if self.use_cache:
                frame = self.tokenizer.decode(grid, cache=s["dec_cache"], positions=torch.tensor([position],
                                              device=self.device), commit=True)[:, 0]
            else:
                context = s["tokens"][:, -self.decoder_context:].reshape(b, -1, *self.tokenizer.grid)
                frame = self.tokenizer.decode(context)[:, -1]
        s["position"] = position + 1
        return self._output(frame)

    def _recompute_logits(self, new_tokens: Tensor, action: Tensor) -> Tensor:
        """No cache: run the dynamics over the last ``context_length`` frames and the new one."""
        s = self._state
        keep = self.context_length - 1
        tokens = torch.cat((s["tokens"][:, -keep:] if keep else s["tokens"][:, :0], new_tokens[:, None]), dim=1)
        actions = torch.cat((s["actions"][:, -keep:] if keep else s["actions"][:, :0], action[:, None]), dim=1)
        return self.dynamics(tokens, actions)[:, -1]

    @torch.no_grad()
    def rollout(self, actions: Any, prompt: Any | None = None, seed: int | None = None) -> Tensor:
        """Frames for each action (``T c h w``, or ``b T c h w`` for batched prompts); with a
        ``prompt`` the world is reset first."""
        if prompt is not None:
            self.reset(prompt, seed=seed)
        actions = torch.as_tensor(actions)
        steps = actions.shape[-1] if actions.ndim else 1
        frames = [self.step(actions[..., i] if actions.ndim else actions) for i in range(steps)]
        return torch.stack(frames, dim=-4)

    @torch.no_grad()
    def infer_actions(self, clip: Any) -> Tensor:
        """The LAM's latent actions ``(t-1)`` (or ``b (t-1)``) for a real clip."""
        video = self.prepare(clip)
        actions = self.lam.infer_actions(video)
        return actions if torch.as_tensor(clip).ndim == 5 else actions[0]


def require_world_parts(pl_module: torch.nn.Module, callback: str) -> None:
    """Refuse a module that is not a co-trained world (``tokenizer``, ``lam``, ``dynamics``)."""
    if not all(hasattr(pl_module, part) for part in ("tokenizer", "lam", "dynamics")):
        raise TypeError(f"{callback} rolls out a Genie world and needs a module with .tokenizer, .lam and .dynamics "
                        f"(GenieCoTraining), got {type(pl_module).__name__}; for a tokenizer use ReconstructionFVD")


def build_world(pl_module: torch.nn.Module, maskgit_steps: int = MASKGIT_STEPS,
                temperature: float = MASKGIT_TEMPERATURE) -> Genie:
    """A playable world over the module's live parts."""
    return Genie(pl_module.tokenizer, pl_module.lam, pl_module.dynamics, maskgit_steps=maskgit_steps,
                 temperature=temperature)


def random_actions(indices: Tensor, steps: int, num_actions: int, seed: int) -> Tensor:
    """Uniform actions ``b steps``; row i depends only on ``seed`` and ``indices[i]``."""
    rows = []
    for index in indices.tolist():
        generator = torch.Generator().manual_seed(seed * SEED_STRIDE + max(index, 0))
        rows.append(torch.randint(0, num_actions, (steps,), generator=generator))
    return torch.stack(rows)


def rollout(world: Genie, prompt_clip: Tensor, actions: Tensor, seed: int) -> Tensor:
    """The world's clip ``b T c h w``: its rendition of ``x_1`` then one frame per action."""
    first = world.reset(prompt_clip[:, :1], seed=seed)
    frames = world.rollout(actions.to(world.device))
    return torch.cat((first[:, None], frames), dim=1)


def rollout_pair(world: Genie, real: Tensor, indices: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    """The two rollouts ΔtPSNR compares for real clips ``b T c h w`` (``indices``: their places in
    the clip set, -1 for padding): from each clip's ``x_1``, with the latent actions the LAM infers
    from the clip and with uniform random actions (:func:`random_actions` seeded ``seed + 1``). Both
    use the same MaskGIT generator, seeded ``seed * 1_000_003 + indices[0]``. Shared by
    :class:`RolloutMetrics` and ``genie-lit evaluate``."""
    sampling_seed = seed * SEED_STRIDE + int(indices[0].clamp_min(0))
    inferred = rollout(world, real, world.infer_actions(real), sampling_seed)
    chance = random_actions(indices, real.shape[1] - 1, world.num_actions, seed + 1)
    randomised = rollout(world, real, chance, sampling_seed)
    return inferred, randomised
