"""Configs are data the tests check: every YAML in configs/ parses and instantiates."""

import pytest
import torch

from conftest import CONFIGS
from genie_lit.cli import GenieCLI

import lightning as L

COMPONENT_CONFIGS = sorted(p for p in CONFIGS.glob("*/*.yaml") if "model:" in p.read_text())
PARTIAL_CONFIGS = sorted(p for p in CONFIGS.glob("*/*.yaml") if "model:" not in p.read_text())
BASE = CONFIGS / "tokenizer" / "st_vivit.yaml"


def _instantiate(configs, video_dir, extra=()):
    args = ["--data.data_dir", str(video_dir)]
    for config in configs:
        args = ["--config", str(config), *args]
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


def _required_paths(config, request):
    """Configs that need files made by earlier stages (checkpoints) get them from fixtures."""
    if "TokenDataModule" in config.read_text():
        tokenizer = request.getfixturevalue("tokenizer_ckpt")
        return ["--data.tokenizer_ckpt", str(tokenizer), "--data.actions", "recorded"]
    return []
