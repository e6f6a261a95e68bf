"""Configs are data the tests check: every YAML in configs/ parses and instantiates."""

import re

import pytest
import torch

from conftest import CONFIGS
from genie_lit.training import GenieCLI

import lightning as L

SCALE_PRESETS = sorted(CONFIGS.glob("scale/*.yaml"))  # model sections of other sizes: tests/test_scale.py
# studies: tests/test_study.py
ALL_CONFIGS = sorted(p for p in CONFIGS.glob("*/*.yaml") if p not in SCALE_PRESETS and p.parent.name != "studies")


def overlay_base(path):
    """``# overlay on: DIR/FILE.yaml`` in its first line: a file layered on that component config."""
    match = re.match(r"# overlay on: (\S+)", path.read_text())
    return CONFIGS / match.group(1) if match else None


MODEL_SECTIONS = [p for p in ALL_CONFIGS if p.parent.name == "models"]  # referenced by run configs
OVERLAY_CONFIGS = [p for p in ALL_CONFIGS if overlay_base(p) is not None]
COMPONENT_CONFIGS = [p for p in ALL_CONFIGS if "model:" in p.read_text() and p not in OVERLAY_CONFIGS + MODEL_SECTIONS]
PARTIAL_CONFIGS = [p for p in ALL_CONFIGS
                   if "model:" not in p.read_text() and p not in OVERLAY_CONFIGS + MODEL_SECTIONS]
BASE = CONFIGS / "tokenizer" / "st_vivit.yaml"


def _instantiate(configs, video_dir, extra=()):
    args = []
    for config in configs:  # in order: later files override earlier ones, as on the command line
        args += ["--config", str(config)]
    args += ["--data.data_dir", str(video_dir)]
    return GenieCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                    auto_configure_optimizers=False, run=False, args=[*args, *extra])


def _names(paths):
    return sorted(f"{p.parent.name}/{p.stem}" for p in paths)


def test_every_shipped_config_is_a_component_a_partial_or_an_overlay_of_an_existing_base():
    assert _names(COMPONENT_CONFIGS) == ["agent/bc_latent", "dynamics/maskgit", "genie/cotrain", "lam/pixel",
                                       "quality/classifier", "tokenizer/st_vivit"]
    assert _names(OVERLAY_CONFIGS) == ["agent/bc_oracle", "lam/tokens", "quickstart/tokenizer", "quickstart/world",
                                       "quickstart/world_anchored_labels", "quickstart/world_change_weight", "quickstart/world_labelled_share",
                                       "quickstart/world_labels", "quickstart/world_large", "tokenizer/c_vivit", "tokenizer/decoder",
                                       "tokenizer/vit"]
    assert _names(MODEL_SECTIONS) == ["models/dynamics_maskgit", "models/lam_pixel"]
    assert _names(PARTIAL_CONFIGS) == ["quickstart/atari_data", "trainer/checkpointing", "trainer/compile",
                                       "trainer/cpu", "trainer/ddp", "trainer/fsdp", "trainer/gpu"]
    assert SCALE_PRESETS and all(p.read_text().count("\nclass_path: genie_lit.models.") == 1 for p in SCALE_PRESETS)
    for overlay in OVERLAY_CONFIGS:
        assert overlay_base(overlay) in COMPONENT_CONFIGS, overlay


def test_the_world_reuses_the_components_model_sections():
    """cotrain.yaml does not copy the LAM and dynamics models: it names the files that
    lam/pixel.yaml and dynamics/maskgit.yaml train, so an edit there reaches the world."""
    cotrain = (CONFIGS / "genie" / "cotrain.yaml").read_text()
    assert "lam: ../models/lam_pixel.yaml" in cotrain and "dynamics: ../models/dynamics_maskgit.yaml" in cotrain
    assert "model: ../models/lam_pixel.yaml" in (CONFIGS / "lam" / "pixel.yaml").read_text()
    assert "model: ../models/dynamics_maskgit.yaml" in (CONFIGS / "dynamics" / "maskgit.yaml").read_text()
    assert "class_path: genie_lit.models.LatentActionModel" not in cotrain


def test_a_tokenizer_variant_is_only_the_lines_that_differ_from_the_base():
    for variant in ("vit", "c_vivit"):
        text = (CONFIGS / "tokenizer" / f"{variant}.yaml").read_text()
        lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert len(lines) <= 8 and "data:" not in text and "optimizer" not in text, variant


TOKENIZER_VARIANTS = [[BASE], [BASE, CONFIGS / "tokenizer" / "vit.yaml"], [BASE, CONFIGS / "tokenizer" / "c_vivit.yaml"],
                      [BASE, CONFIGS / "quickstart" / "tokenizer.yaml"]]
WORLDS = [[CONFIGS / "genie" / "cotrain.yaml"], [CONFIGS / "genie" / "cotrain.yaml", CONFIGS / "quickstart" / "world.yaml"]]


@pytest.mark.parametrize("tokenizer_configs", TOKENIZER_VARIANTS, ids=lambda c: "+".join(p.stem for p in c))
@pytest.mark.parametrize("world_configs", WORLDS, ids=lambda c: "+".join(p.stem for p in c))
def test_shipped_tokenizer_and_world_configs_fit_together(tokenizer_configs, world_configs, video_dir, monkeypatch,
                                                         tmp_path):
    """The ties between files, with the shipped values: codebook size = vocab_size, token grid =
    resolution / patch size, LAM resolution = tokenizer resolution, LAM codes = num_actions, and the
    data resolution of each stage = its model's."""
    monkeypatch.chdir(tmp_path)
    tok_cli = _instantiate(tokenizer_configs, video_dir)
    world_cli = _instantiate(world_configs, video_dir)
    tokenizer, world = tok_cli.model, world_cli.model
    lam, dynamics = world.lam, world.dynamics
    assert tokenizer.codebook_size == dynamics.vocab_size
    assert tuple(tokenizer.grid) == tuple(dynamics.grid) == tuple(s // tokenizer.patch_size for s in tokenizer.image_size)
    assert tuple(tokenizer.image_size) == tuple(lam.image_size)
    assert lam.num_actions == dynamics.num_actions
    for cli in (tok_cli, world_cli):
        assert tuple(cli.datamodule.resolution) == tuple(tokenizer.image_size)


def test_the_anchored_labels_overlay_keeps_the_quickstarts_search_options(video_dir, monkeypatch, tmp_path):
    """A nested ``search`` mapping in an overlay must add ``anchor_labels`` to the LAM's search
    options, not reset the others to their defaults."""
    monkeypatch.chdir(tmp_path)
    configs = [CONFIGS / "genie" / "cotrain.yaml", CONFIGS / "quickstart" / "world.yaml",
               CONFIGS / "quickstart" / "world_anchored_labels.yaml"]
    cli = _instantiate(configs, video_dir)
    lam = cli.model.lam
    assert lam.search.anchor_labels and lam.search.unlabelled_weight == 0.0 and lam.labelled_fraction == 0.16
    assert lam.search.null_action_weight == 1.0
    assert type(cli.datamodule).__name__ == "EpisodeVideoDataModule"
    # and the labelled-share overlay on top: the same episodes drawn for half of each batch
    shared = _instantiate([*configs, CONFIGS / "quickstart" / "world_labelled_share.yaml"], video_dir)
    data = shared.datamodule.hparams
    assert data.labelled_share == 0.5 and data.labelled_fraction == shared.model.lam.labelled_fraction == 0.16
    assert shared.model.lam.search.anchor_labels and type(shared.datamodule).__name__ == "EpisodeVideoDataModule"


@pytest.mark.parametrize("component", ["lam/pixel", "lam/pixel+lam/tokens", "dynamics/maskgit"])
def test_component_configs_fit_the_shipped_tokenizer_and_world(component, video_dir, monkeypatch, tmp_path, request):
    """A component trained on its own ties to the shipped tokenizer and world like the world's parts do."""
    monkeypatch.chdir(tmp_path)
    configs = [CONFIGS / f"{name}.yaml" for name in component.split("+")]
    tokenizer = _instantiate([BASE], video_dir).model
    world = _instantiate([CONFIGS / "genie" / "cotrain.yaml"], video_dir).model
    model = _instantiate(configs, video_dir, _required_paths(configs[-1], request)).model
    if component == "lam/pixel+lam/tokens":
        assert model.input_type == "tokens" and world.lam.input_type == "pixels"
    if component == "dynamics/maskgit":
        assert model.vocab_size == tokenizer.codebook_size and tuple(model.grid) == tuple(tokenizer.grid)
        assert model.num_actions == world.dynamics.num_actions
    else:
        assert tuple(model.image_size) == tuple(tokenizer.image_size)
        assert model.num_actions == world.lam.num_actions == world.dynamics.num_actions


def _required_paths(config, request):
    """Configs that need files made by earlier stages (checkpoints) get them from fixtures."""
    if "TokenDataModule" in config.read_text():
        tokenizer = request.getfixturevalue("tokenizer_ckpt")
        return ["--data.tokenizer_ckpt", str(tokenizer), "--data.actions", "recorded"]
    return []
