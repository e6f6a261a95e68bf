"""Rollout videos during training: what the Genie world does with each latent action.

Genie's world is played with a handful of discrete latent actions whose meaning is learned
(Bruce et al., 2024, §2.2 and Fig. 7 and 9, where each action is held from the same prompt).
Every N validations this callback prompts the world with the first frame of a few validation
clips and writes, per prompt, two mp4 files under ``<log_dir>/videos/``:

- ``step{S}_prompt{i}_rollout.mp4``: the real clip | the rollout with the latent actions the LAM
  infers from it | a rollout with random actions, side by side;
- ``step{S}_prompt{i}_actions.mp4``: one panel per latent action, that action held every step.

For a :class:`~genie_lit.models.VideoTokenizer` it writes ``step{S}_prompt{i}_reconstruction.mp4``
(real | reconstruction) instead. Panels are enlarged ``scale`` times (nearest neighbour, so pixel
art stays sharp) and every frame of a world video is labelled with the action that made it
(``R`` on real frames, ``P`` on the world's rendition of the prompt); the files are ordinary
H.264 that any player opens (:class:`~genie_lit.media.PlayableVideoWriter`). With a TensorBoard
logger each video is also logged at its own size: as a video when ``moviepy`` is installed
(TensorBoard needs it to encode GIFs), otherwise as a filmstrip image (panels in rows, time
along the columns).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor

from genie_lit.callbacks.base import ValidationClipsCallback, in_lockstep, load_clips
from genie_lit.media.frames import filmstrip, panel_video, to_uint8
from genie_lit.media.write import write_video
from genie_lit.models.maskgit import MASKGIT_STEPS, MASKGIT_TEMPERATURE
from genie_lit.models.world import build_world, random_actions, rollout

def action_labels(actions: Tensor) -> list[str]:
    """Labels of a rollout's frames: ``P`` on the prompt's rendition, then each frame's action."""
    return ["P", *(str(int(a)) for a in actions)]


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
        scale: nearest-neighbour enlargement of the panels in the mp4 files.
        log_to_tensorboard: also log to a TensorBoard logger when the trainer has one.
    """

    def __init__(self, every_n_val_epochs: int = 1, num_prompts: int = 2, num_frames: int | None = None,
                 maskgit_steps: int = MASKGIT_STEPS, temperature: float = MASKGIT_TEMPERATURE, seed: int = 0,
                 fps: float = 10.0, scale: int = 4, log_to_tensorboard: bool = True) -> None:
        super().__init__(every_n_val_epochs, max_clips=num_prompts, batch_size=num_prompts)
        if scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale}")
        self.num_frames, self.fps, self.scale, self.log_to_tensorboard = num_frames, fps, scale, log_to_tensorboard
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
        for name, (panels, columns, labels) in videos.items():
            frames = panel_video(panels, columns, labels, self.scale)
            self.written.append(write_video(frames, folder / f"step{trainer.global_step:07d}_{name}.mp4", self.fps))
            self._log(trainer, name, torch.from_numpy(frames).permute(0, 3, 1, 2), panels)

    def _world_videos(self, pl_module: L.LightningModule, prompts: Tensor) -> dict[str, tuple[Tensor, int, list]]:
        world = build_world(pl_module, self.maskgit_steps, self.temperature)
        steps = prompts.shape[1] - 1
        indices = torch.arange(prompts.shape[0])
        inferred_actions = world.infer_actions(prompts)
        random = random_actions(indices, steps, world.num_actions, self.seed + 1)
        inferred = rollout(world, prompts, inferred_actions, self.seed)
        chance = rollout(world, prompts, random, self.seed)
        held_steps = (self.num_frames or prompts.shape[1]) - 1
        num_actions = world.num_actions
        columns = min(num_actions, 4)
        videos = {}
        for i in range(prompts.shape[0]):
            labels = ["R", action_labels(inferred_actions[i]), action_labels(random[i])]
            videos[f"prompt{i}_rollout"] = (torch.stack((prompts[i], inferred[i], chance[i])), 3, labels)
            held = torch.arange(num_actions)[:, None].expand(num_actions, held_steps)
            per_action = rollout(world, prompts[i:i + 1].expand(num_actions, -1, -1, -1, -1), held, self.seed)
            videos[f"prompt{i}_actions"] = (per_action, columns, [action_labels(row) for row in held])
        return videos

    def _reconstructions(self, pl_module: L.LightningModule, prompts: Tensor) -> dict[str, tuple[Tensor, int, None]]:
        reconstruction = pl_module(prompts)[0].clamp(0, 1)
        return {f"prompt{i}_reconstruction": (torch.stack((prompts[i], reconstruction[i])), 2, None)
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
