"""Validation callbacks through the real CLI on tiny models: FVD and ΔtPSNR of world rollouts
written to metrics.csv, reconstruction FVD of the tokenizer, rollout videos."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import CONFIGS, QUIET, TINY
from videos import decode_all, expected_mask, label_mask
from genie_lit.callbacks import ReconstructionFVD, RolloutMetrics, RolloutVideos
from genie_lit.callbacks import video as video_callback
from genie_lit.cli import main
from genie_lit.data import VideoDataModule
from genie_lit.media import probe
from genie_lit.media.frames import tile, to_uint8
from genie_lit.metrics import InceptionI3d, build_fvd
from genie_lit.models import Genie
from genie_lit.models.world import random_actions

COTRAIN = ["--config", str(CONFIGS / "genie" / "cotrain.yaml"), "--config", str(TINY / "tiny_cotrain.yaml")]
TOKENIZER = ["--config", str(CONFIGS / "tokenizer" / "st_vivit.yaml"), "--config", str(TINY / "tiny_tokenizer.yaml")]
ROLLOUT = "--trainer.callbacks+=genie_lit.callbacks.RolloutMetrics"
FOUR = ("val/delta_psnr", "val/psnr_inferred", "val/psnr_random")
# ΔtPSNR at t=3 over 3 clips, each clip with its own MaskGIT generator
BY_HAND = [ROLLOUT, "--trainer.callbacks.max_clips", "3", "--trainer.callbacks.maskgit_steps", "2",
           "--trainer.callbacks.batch_size", "1", "--trainer.callbacks.fvd", "false", "--trainer.callbacks.t", "3",
           "--trainer.callbacks.seed", "5"]
I3D_MIN_FRAMES = 9  # standard FVD feeds 16; fewer keeps the 224x224 I3D affordable in tests


def last_values(root: Path) -> dict[str, float]:
    """The last non-empty value of every column of root/metrics.csv."""
    values: dict[str, float] = {}
    with open(root / "metrics.csv", newline="") as file:
        for row in csv.DictReader(file):
            values.update({k: float(v) for k, v in row.items() if v not in ("", None)})
    return values


def rows_with(root: Path, name: str) -> list[dict[str, str]]:
    with open(root / "metrics.csv", newline="") as file:
        return [row for row in csv.DictReader(file) if row.get(name)]


def validate_world(video_dir, tokenizer_ckpt, ckpt, root, *callback_args) -> dict[str, float]:
    main(["validate", *COTRAIN, "--data.data_dir", str(video_dir), "--model.tokenizer_ckpt", str(tokenizer_ckpt),
          "--ckpt_path", str(ckpt), "--trainer.default_root_dir", str(root), *QUIET, *callback_args])
    return last_values(root)


def test_cotraining_run_logs_fvd_and_delta_psnr_to_csv_and_tensorboard_and_writes_videos(
        video_dir, tokenizer_ckpt, tmp_path):
    """Two validations, callbacks every 2nd: the four values once, over 2 clips, and without I3D
    weights FVD is never called plain 'val/fvd'. Videos: mp4 files of clip length (4 frames), real |
    inferred | random side by side, one panel per latent action, and filmstrips in TensorBoard."""
    main(["fit", *COTRAIN, "--data.data_dir", str(video_dir), "--model.tokenizer_ckpt", str(tokenizer_ckpt),
          "--trainer.max_steps", "2", "--trainer.val_check_interval", "1", "--trainer.limit_val_batches", "1",
          "--trainer.default_root_dir", str(tmp_path), *QUIET,
          ROLLOUT, "--trainer.callbacks.every_n_val_epochs", "2", "--trainer.callbacks.max_clips", "2",
          "--trainer.callbacks.maskgit_steps", "2", "--trainer.callbacks.fvd_num_frames", str(I3D_MIN_FRAMES),
          "--trainer.callbacks+=genie_lit.callbacks.RolloutVideos", "--trainer.callbacks.every_n_val_epochs", "2",
          "--trainer.callbacks.num_prompts", "2", "--trainer.callbacks.num_frames", "6",
          "--trainer.callbacks.maskgit_steps", "2"])
    values = last_values(tmp_path)
    for name in (*FOUR, "val/fvd_random_i3d"):
        assert [row["step"] for row in rows_with(tmp_path, name)] == ["1"], name  # after step 2 only
        assert math.isfinite(values[name])
    assert "val/fvd" not in values and values["val/fvd_random_i3d"] > 0
    assert values["val/rollout_clips"] == 2
    assert values["val/delta_psnr"] == pytest.approx(values["val/psnr_inferred"] - values["val/psnr_random"], abs=1e-4)

    videos = sorted((tmp_path / "videos").glob("*.mp4"))
    assert [v.name for v in videos] == [f"step0000002_prompt{i}_{kind}.mp4" for i in (0, 1)
                                        for kind in ("actions", "rollout")]
    rollout_info, actions_info = probe(videos[1]), probe(videos[0])
    side = 4 * 64  # panels enlarged 4x (nearest) so that people can see them
    assert (rollout_info.num_frames, rollout_info.width, rollout_info.height) == (4, 3 * side + 2 * 2, side)
    # the tiny LAM has 8 actions: 2 rows of 4 panels, 6 frames (num_frames)
    assert (actions_info.num_frames, actions_info.width, actions_info.height) == (6, 4 * side + 3 * 2, 2 * side + 2)
    # every panel is labelled: P on the prompt's rendition, then the action it holds; R on real frames
    held, rollout = decode_all(videos[0]), decode_all(videos[1])
    cell = 4  # one font pixel per world pixel at 4x
    for action in range(8):
        row, column = divmod(action, 4)
        panel = held[:, row * (side + 2):, column * (side + 2):]
        for frame, text in ((0, "P"), (3, str(action))):
            assert (label_mask(panel[frame], text, cell) == expected_mask(text, cell)).mean() > 0.97, (action, text)
    assert (label_mask(rollout[2], "R", cell) == expected_mask("R", cell)).mean() > 0.97

    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert {"val/delta_psnr", "val/fvd_random_i3d"} <= set(events.Tags()["scalars"])
    image = events.Images("videos/prompt0_actions")[-1]
    assert (image.width, image.height) == (6 * 64 + 5 * 2, 8 * 64 + 7 * 2)  # a row per action, a column per frame


def test_an_i3d_weights_file_that_is_not_the_published_one_is_logged_as_custom(video_dir, tokenizer_ckpt, world_ckpt,
                                                                              tmp_path):
    weights = tmp_path / "i3d_state_dict.pt"
    # a weights file in the piergiaj format, random weights: loadable, but its hash is not the published
    # Kinetics-400 I3D's, so the value is not called standard FVD
    torch.save(InceptionI3d().state_dict(), weights)
    values = validate_world(video_dir, tokenizer_ckpt, world_ckpt, tmp_path / "run", ROLLOUT,
                            "--trainer.callbacks.max_clips", "2", "--trainer.callbacks.maskgit_steps", "1",
                            "--trainer.callbacks.fvd_weights", str(weights),
                            "--trainer.callbacks.fvd_num_frames", str(I3D_MIN_FRAMES))
    assert "val/fvd_custom_i3d" in values and "val/fvd" not in values and "val/fvd_random_i3d" not in values
    assert set(FOUR) <= set(values)


def test_non_standard_i3d_size_gets_a_name_of_its_own():
    assert build_fvd(None, 224, 16)[1] == "fvd_random_i3d"
    assert build_fvd(None, 64, 16)[1] == "fvd_random_i3d_64px"


def test_delta_psnr_equals_psnr_at_frame_t_of_rollouts_of_the_first_clips(video_dir, tokenizer_ckpt, world_ckpt,
                                                                          tmp_path):
    """Recomputed by hand: PSNR = -10 log10(MSE) of frame t (1-based) against the real frame,
    averaged over the first max_clips validation clips, each rolled out with its own seed."""
    values = validate_world(video_dir, tokenizer_ckpt, world_ckpt, tmp_path, *BY_HAND)
    data = VideoDataModule(str(video_dir), clip_length=4, val_fraction=0.25)
    data.setup()
    world = Genie.from_checkpoint(str(world_ckpt), maskgit_steps=2)
    psnr = {"inferred": [], "random": []}
    for i in range(3):
        real = data.datasets["val"][i]["video"][None]
        seed = 5 * 1_000_003 + i  # documented: seed * 1_000_003 + the clip's index in the validation set
        actions = {"inferred": world.infer_actions(real),
                   "random": random_actions(torch.tensor([i]), 3, world.num_actions, 6)}
        for kind, chosen in actions.items():
            generated = world.rollout(chosen, prompt=real[:, :1], seed=seed)  # x̂_2 .. x̂_4
            mse = (generated[0, 3 - 2].double() - real[0, 3 - 1].double()).square().mean().item()  # frame t = 3
            psnr[kind].append(-10 * math.log10(mse))
    inferred, chance = sum(psnr["inferred"]) / 3, sum(psnr["random"]) / 3
    assert values["val/psnr_inferred"] == pytest.approx(inferred, abs=1e-4)
    assert values["val/psnr_random"] == pytest.approx(chance, abs=1e-4)
    assert values["val/delta_psnr"] == pytest.approx(inferred - chance, abs=1e-4)
    assert values["val/rollout_clips"] == 3 and "val/fvd_random_i3d" not in values


def test_delta_psnr_compares_rollouts_that_differ_by_their_actions_only(video_dir, tokenizer_ckpt, world_ckpt,
                                                                        tmp_path, monkeypatch):
    """With the 'random' actions replaced by the inferred ones the two rollouts are the same video
    (shared MaskGIT random numbers), so ΔtPSNR is exactly 0; any difference in the real measurement
    comes from the actions (a random action table alone cannot make this hold)."""
    import genie_lit.models.world as world_module

    def the_inferred_actions(indices, steps, num_actions, seed):
        return torch.stack([inferred[int(i)] for i in indices])

    data = VideoDataModule(str(video_dir), clip_length=4, val_fraction=0.25)
    data.setup()
    world = Genie.from_checkpoint(str(world_ckpt), maskgit_steps=2)
    inferred = {i: world.infer_actions(data.datasets["val"][i]["video"][None])[0] for i in range(3)}
    monkeypatch.setattr(world_module, "random_actions", the_inferred_actions)
    values = validate_world(video_dir, tokenizer_ckpt, world_ckpt, tmp_path, *BY_HAND)
    assert values["val/delta_psnr"] == 0.0 and values["val/psnr_inferred"] == values["val/psnr_random"]


def test_a_world_that_ignores_actions_has_delta_psnr_exactly_zero(video_dir, tokenizer_ckpt, world_ckpt, tmp_path):
    """Both rollouts of a clip share their MaskGIT random numbers, so with every action embedded
    alike they are the same video: ΔtPSNR is 0, not sampling noise."""
    checkpoint = torch.load(world_ckpt, weights_only=True)
    table = checkpoint["state_dict"]["dynamics.action_embed.weight"]
    table[:] = table[0]
    blind = tmp_path / "blind.ckpt"
    torch.save(checkpoint, blind)
    values = validate_world(video_dir, tokenizer_ckpt, blind, tmp_path / "run", *BY_HAND)
    assert values["val/delta_psnr"] == 0.0
    assert values["val/psnr_inferred"] == values["val/psnr_random"]


def test_one_clip_skips_fvd_with_a_warning_but_logs_delta_psnr(video_dir, tokenizer_ckpt, world_ckpt, tmp_path):
    with pytest.warns(UserWarning, match="needs at least 2 clips"):
        values = validate_world(video_dir, tokenizer_ckpt, world_ckpt, tmp_path, ROLLOUT,
                                "--trainer.callbacks.max_clips", "1", "--trainer.callbacks.maskgit_steps", "1",
                                "--trainer.callbacks.fvd_size", "64")
    assert set(FOUR) <= set(values) and values["val/rollout_clips"] == 1
    assert not any(name.startswith("val/fvd") for name in values)


def test_clips_shorter_than_t_give_an_error_naming_both_settings(video_dir, tokenizer_ckpt, world_ckpt, tmp_path):
    with pytest.raises(ValueError, match="t=6.*clip_length"):
        validate_world(video_dir, tokenizer_ckpt, world_ckpt, tmp_path, ROLLOUT, "--trainer.callbacks.t", "6",
                       "--trainer.callbacks.fvd", "false")


def test_rollout_metrics_refuse_a_module_without_a_world(video_dir, tokenizer_ckpt, tmp_path):
    with pytest.raises(TypeError, match="GenieCoTraining.*ReconstructionFVD"):
        main(["validate", *TOKENIZER, "--data.data_dir", str(video_dir), "--ckpt_path", str(tokenizer_ckpt),
              "--trainer.default_root_dir", str(tmp_path), *QUIET, ROLLOUT, "--trainer.callbacks.fvd", "false"])


def test_tokenizer_reconstruction_fvd_and_videos(video_dir, tokenizer_ckpt, tmp_path):
    main(["validate", *TOKENIZER, "--data.data_dir", str(video_dir), "--ckpt_path", str(tokenizer_ckpt),
          "--trainer.default_root_dir", str(tmp_path), *QUIET,
          "--trainer.callbacks+=genie_lit.callbacks.ReconstructionFVD", "--trainer.callbacks.max_clips", "3",
          "--trainer.callbacks.fvd_size", "64",
          "--trainer.callbacks+=genie_lit.callbacks.RolloutVideos", "--trainer.callbacks.num_prompts", "1"])
    values = last_values(tmp_path)
    assert values["val/recon_fvd_random_i3d_64px"] > 0 and "val/recon_fvd" not in values
    (video,) = (tmp_path / "videos").glob("*.mp4")
    info = probe(video)
    scale = 4  # panels are enlarged 4x (nearest) so that people can see them
    assert video.name.endswith("_prompt0_reconstruction.mp4") and (info.num_frames, info.width) == (4, 2 * 64 * scale + 2)


class IdentityTokenizer(L.LightningModule):
    """A perfect reconstruction: forward returns its input."""

    def forward(self, video):
        return video, None

    def validation_step(self, batch, batch_idx):
        pass


def test_reconstruction_fvd_of_a_perfect_tokenizer_is_zero_and_real_clips_are_encoded_once(video_dir, tmp_path):
    """Validation clips of 4 frames: FVD still sees 16 real frames per clip, cut from the same
    validation files (2 files of 24 frames: one 16-frame clip each), never a padded clip."""
    callback = ReconstructionFVD(max_clips=4, fvd_size=64)
    data = VideoDataModule(str(video_dir), clip_length=4, val_fraction=0.5, batch_size=2)
    trainer = L.Trainer(accelerator="cpu", logger=False, callbacks=[callback], default_root_dir=tmp_path,
                        enable_progress_bar=False, enable_model_summary=False)
    seen = []
    extractor_forward = type(callback).setup

    def setup_and_watch(self, trainer, pl_module, stage):
        extractor_forward(self, trainer, pl_module, stage)
        original = self.fvd.feature_extractor.forward
        self.fvd.feature_extractor.forward = lambda videos: (seen.append(videos.shape[1]), original(videos))[1]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(ReconstructionFVD, "setup", setup_and_watch)
                metrics = trainer.validate(IdentityTokenizer(), data)[0]
            assert metrics["val/recon_fvd_random_i3d_64px"] == pytest.approx(0.0, abs=1e-3)
    assert not any("padded" in str(w.message) for w in caught)
    assert seen and set(seen) == {16}  # every clip given to I3D holds 16 real frames
    assert int(callback.fvd.real_features_num_samples) == 2  # kept from the first validation, not added again
    assert int(callback.fvd.fake_features_num_samples) == 0  # reset after logging


def test_every_validation_callback_is_a_lightning_callback_with_a_distinct_state_key():
    callbacks = [RolloutMetrics(fvd=False), RolloutMetrics(fvd=False, every_n_val_epochs=2), ReconstructionFVD(),
                 RolloutVideos()]
    assert all(isinstance(c, L.Callback) for c in callbacks)
    assert len({c.state_key for c in callbacks}) == len(callbacks)
    callbacks[0].load_state_dict({"validations": 3})
    assert callbacks[0].state_dict() == {"validations": 3}


def test_fast_dev_run_uses_two_clips(video_dir, tmp_path):
    callback = ReconstructionFVD(max_clips=16, fvd_size=64)
    data = VideoDataModule(str(video_dir), clip_length=4, val_fraction=0.5, batch_size=2)
    trainer = L.Trainer(accelerator="cpu", fast_dev_run=True, callbacks=[callback], default_root_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.validate(IdentityTokenizer(), data)
    assert int(callback.fvd.real_features_num_samples) == 2
    assert "val/recon_fvd_random_i3d_64px" in trainer.callback_metrics


def test_videos_go_to_tensorboard_as_videos_when_moviepy_can_encode_them(monkeypatch, tmp_path):
    logger = TensorBoardLogger(tmp_path, name="", version="")
    calls = []
    monkeypatch.setattr(logger.experiment, "add_video", lambda tag, video, step, fps: calls.append(
        (tag, tuple(video.shape), video.dtype, step, fps)))
    monkeypatch.setattr(video_callback, "tensorboard_can_encode_video", lambda: True)
    panels = torch.rand(3, 4, 3, 8, 8)  # real | inferred | random, 4 frames of 8x8
    video = to_uint8(tile(panels, 3))
    RolloutVideos(fps=5)._log(SimpleNamespace(loggers=[logger], global_step=7), "prompt0_rollout", video, panels)
    assert calls == [("videos/prompt0_rollout", (1, 4, 3, 8, 3 * 8 + 2 * 2), torch.uint8, 7, 5)]
