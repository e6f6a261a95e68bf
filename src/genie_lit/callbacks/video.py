"""Rollout videos during training: what the Genie world does with each latent action.

Genie's world is played with a handful of discrete latent actions whose meaning is learned
(Bruce et al., 2024, §2.2 and Fig. 7 and 9, where each action is held from the same prompt).
Every N validations this callback prompts the world with the first frame of a few validation
clips and writes, per prompt, two mp4 files under ``<log_dir>/videos/``:

- ``step{S}_prompt{i}_rollout.mp4``: the real clip | the rollout with the latent actions the LAM
  infers from it | a rollout with random actions, side by side;
- ``step{S}_prompt{i}_actions.mp4``: one panel per latent action, that action held every step.

For a :class:`~genie_lit.models.VideoTokenizer` it writes ``step{S}_prompt{i}_reconstruction.mp4``
(real | reconstruction) instead. With a TensorBoard logger each video is also logged: as a video
when ``moviepy`` is installed (TensorBoard needs it to encode GIFs), otherwise as a filmstrip
image (panels in rows, time along the columns). Videos are lossless (``VideoWriter``).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor

from genie_lit.callbacks.base import ValidationClipsCallback, in_lockstep, load_clips
from genie_lit.callbacks.rollout_metrics import build_world, random_actions, rollout
from genie_lit.data.video_io import VideoWriter

_GAP = 2  # white pixels between panels


def tile(panels: Tensor, columns: int) -> Tensor:
    """Panels ``n T c h w`` -> one video ``T c H W``: a grid of ``columns`` with white gaps."""
    n, t, c, h, w = panels.shape
    rows = math.ceil(n / columns)
    out = panels.new_ones(t, c, rows * h + (rows - 1) * _GAP, columns * w + (columns - 1) * _GAP)
    for k in range(n):
        r, col = divmod(k, columns)
        out[:, :, r * (h + _GAP):r * (h + _GAP) + h, col * (w + _GAP):col * (w + _GAP) + w] = panels[k]
    return out


def to_uint8(video: Tensor) -> Tensor:
    """Float frames in [0, 1] -> uint8 of the same shape, on the CPU."""
    return (video.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def write_mp4(video: Tensor, path: Path, fps: float) -> Path:
    """Write ``T c h w`` uint8 frames to a lossless mp4."""
    writer = VideoWriter(path, fps=fps)
    try:
        for frame in video:
            writer.write(frame.permute(1, 2, 0).numpy())
    except BaseException:
        writer.close(keep=False)
        raise
    writer.close()
    return path


def filmstrip(panels: Tensor) -> Tensor:
    """Panels ``n T c h w`` -> one image ``c H W``: a row per panel, its frames along the row."""
    n, t = panels.shape[:2]
    return tile(panels.reshape(n * t, 1, *panels.shape[2:]), columns=t)[0]


def tensorboard_can_encode_video() -> bool:
    """TensorBoard's ``add_video`` encodes with moviepy 1.x (``moviepy.editor``)."""
    try:
        return importlib.util.find_spec("moviepy.editor") is not None
    except ModuleNotFoundError:
        return False


class RolloutVideos(ValidationClipsCallback):
    """Saves rollouts (world) or reconstructions (tokenizer) of a few validation prompts as mp4.

    Args:
        every_n_val_epochs: write videos at every N-th validation.
        num_prompts: validation clips used as prompts (the first ones of the set).
        num_frames: frames of the "each action held" videos (default: the clip length); the other
            videos have the clip's length.
        maskgit_steps, temperature, seed: MaskGIT decoding and seed of the random actions.
        fps: frame rate stored in the files (the paper's data: 10 FPS).
        log_to_tensorboard: also log to a TensorBoard logger when the trainer has one.
    """

    def __init__(self, every_n_val_epochs: int = 1, num_prompts: int = 2, num_frames: int | None = None,
                 maskgit_steps: int = 8, temperature: float = 1.0, seed: int = 0, fps: float = 10.0,
                 log_to_tensorboard: bool = True) -> None:
        super().__init__(every_n_val_epochs, max_clips=num_prompts, batch_size=num_prompts)
        self.num_frames, self.fps, self.log_to_tensorboard = num_frames, fps, log_to_tensorboard
        self.maskgit_steps, self.temperature, self.seed = maskgit_steps, temperature, seed
        self.written: list[Path] = []

    def run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        folder = Path(trainer.log_dir or trainer.default_root_dir) / "videos"  # log_dir is a collective: all ranks
        if trainer.global_rank != 0 and not in_lockstep(trainer):
            return
        prompts = load_clips(trainer, pl_module, list(range(self.num_clips(trainer))))
        world_parts = all(hasattr(pl_module, p) for p in ("tokenizer", "lam", "dynamics"))
        videos = self._world_videos(pl_module, prompts) if world_parts else self._reconstructions(pl_module, prompts)
        if trainer.global_rank != 0:
            return
        self.written = []
        for name, (panels, columns) in videos.items():
            video = to_uint8(tile(panels, columns))
            self.written.append(write_mp4(video, folder / f"step{trainer.global_step:07d}_{name}.mp4", self.fps))
            self._log(trainer, name, video, panels)

    def _world_videos(self, pl_module: L.LightningModule, prompts: Tensor) -> dict[str, tuple[Tensor, int]]:
        world = build_world(pl_module, self.maskgit_steps, self.temperature)
        steps = prompts.shape[1] - 1
        indices = torch.arange(prompts.shape[0])
        inferred = rollout(world, prompts, world.infer_actions(prompts), self.seed)
        chance = rollout(world, prompts, random_actions(indices, steps, world.num_actions, self.seed + 1), self.seed)
        held_steps = (self.num_frames or prompts.shape[1]) - 1
        num_actions = world.num_actions
        columns = min(num_actions, 4)
        videos = {}
        for i in range(prompts.shape[0]):
            videos[f"prompt{i}_rollout"] = (torch.stack((prompts[i], inferred[i], chance[i])), 3)
            held = torch.arange(num_actions)[:, None].expand(num_actions, held_steps)
            per_action = rollout(world, prompts[i:i + 1].expand(num_actions, -1, -1, -1, -1), held, self.seed)
            videos[f"prompt{i}_actions"] = (per_action, columns)
        return videos

    def _reconstructions(self, pl_module: L.LightningModule, prompts: Tensor) -> dict[str, tuple[Tensor, int]]:
        reconstruction = pl_module(prompts)[0].clamp(0, 1)
        return {f"prompt{i}_reconstruction": (torch.stack((prompts[i], reconstruction[i])), 2)
                for i in range(prompts.shape[0])}

    def _log(self, trainer: L.Trainer, name: str, video: Tensor, panels: Tensor) -> None:
        if not self.log_to_tensorboard:
            return
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                if tensorboard_can_encode_video():
                    logger.experiment.add_video(f"videos/{name}", video[None], trainer.global_step, fps=self.fps)
                else:
                    logger.experiment.add_image(f"videos/{name}", to_uint8(filmstrip(panels)), trainer.global_step)
