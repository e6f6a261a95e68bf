"""Configs are data the tests check: every YAML in configs/ parses and instantiates."""

import re

import pytest
import torch

from conftest import CONFIGS
from genie_lit.training import GenieCLI

import lightning as L

ALL_CONFIGS = sorted(CONFIGS.glob("*/*.yaml"))


def overlay_base(path):
    """``# overlay on: DIR/FILE.yaml`` in its first line: a file layered on that component config."""
    match = re.match(r"# overlay on: (\S+)", path.read_text())
    return CONFIGS / match.group(1) if match else None


OVERLAY_CONFIGS = [p for p in ALL_CONFIGS if overlay_base(p) is not None]
COMPONENT_CONFIGS = [p for p in ALL_CONFIGS if "model:" in p.read_text() and p not in OVERLAY_CONFIGS]
PARTIAL_CONFIGS = [p for p in ALL_CONFIGS if "model:" not in p.read_text() and p not in OVERLAY_CONFIGS]
BASE = CONFIGS / "tokenizer" / "st_vivit.yaml"


def _instantiate(configs, video_dir, extra=()):
    args = []
    for config in configs:  # in order: later files override earlier ones, as on the command line
        args += ["--config", str(config)]
    args += ["--data.data_dir", str(video_dir)]
    return GenieCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                    auto_configure_optimizers=False, run=False, args=[*args, *extra])


def test_configs_exist():
    assert len(COMPONENT_CONFIGS) >= 3


@pytest.mark.parametrize("config", COMPONENT_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_component_config_instantiates(config, video_dir, monkeypatch, tmp_path, request):
    monkeypatch.chdir(tmp_path)
    cli = _instantiate([config], video_dir, _required_paths(config, request))
    assert isinstance(cli.model, L.LightningModule) and isinstance(cli.datamodule, L.LightningDataModule)


@pytest.mark.parametrize("config", PARTIAL_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_partial_config_combines_with_a_component_config(config, video_dir, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    extra = []
    if "FSDPStrategy" in config.read_text() and not torch.cuda.is_available():
        # Lightning refuses FSDP without a GPU; the CPU subclass keeps every option of the file
        extra = ["--trainer.accelerator", "cpu", "--trainer.precision", "32-true",
                 "--trainer.strategy.class_path", "test_ddp.CPUFSDPStrategy"]
    cli = _instantiate([BASE, config], video_dir, extra)
    assert isinstance(cli.trainer, L.Trainer)


@pytest.mark.parametrize("config", OVERLAY_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_overlay_config_combines_with_its_base(config, video_dir, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    base = overlay_base(config)
    assert base.is_file(), f"{config} names a base config that does not exist: {base}"
    cli = _instantiate([base, config], video_dir)
    assert isinstance(cli.model, L.LightningModule) and isinstance(cli.trainer, L.Trainer)


def _required_paths(config, request):
    """Configs that need files made by earlier stages (checkpoints) get them from fixtures."""
    if "TokenDataModule" in config.read_text():
        tokenizer = request.getfixturevalue("tokenizer_ckpt")
        return ["--data.tokenizer_ckpt", str(tokenizer), "--data.actions", "recorded"]
    return []
