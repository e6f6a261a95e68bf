"""Scale presets (configs/scale/) and the GPU path's levers, checked on the CPU.

- every preset builds on the meta device with a parameter count within 10% of its name, and the
  presets of one layout fit together (token grid, codebook, actions, resolution);
- activation checkpointing gives the same gradients as none, and really recomputes the blocks;
- ``torch.compile`` of the blocks gives the same loss and gradients as eager;
- the FSDP auto-wrap policy selects exactly the transformer blocks;
- ``benchmarks/gpu_check.sh --dry-run`` runs every stage on the CPU and writes its JSON.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import CONFIGS

REPO = CONFIGS.parent
BENCHMARKS = REPO / "benchmarks"
SCALE = CONFIGS / "scale"


def _benchmark(name: str):
    sys.path.insert(0, str(BENCHMARKS))  # the scripts import their neighbour common.py
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


presets = _benchmark("scale_presets")
PRESETS = presets.presets()


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------------------ presets
def test_the_presets_cover_quickstart_coinrun_the_papers_series_and_its_final_layout():
    names = {p.stem for p in PRESETS}
    for component in ("tokenizer", "lam", "dynamics"):
        assert any(n.startswith(f"quickstart_{component}") for n in names)
        assert any(n.startswith(f"coinrun_{component}") for n in names)
    series = sorted(presets.nominal_size(p) for p in PRESETS if p.stem.startswith("paper_dynamics")
                    and p.stem != "paper_dynamics_10b")
    assert series[0] == 40e6 and series[-1] == 2.7e9 and len(series) >= 4
    assert {"paper_tokenizer_200m", "paper_lam_300m", "paper_dynamics_10b"} <= names


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_each_preset_builds_on_the_meta_device_within_10_percent_of_its_name(path):
    module = presets.build_on_meta(path)
    assert all(p.is_meta for p in module.parameters())
    nominal = presets.nominal_size(path)
    assert abs(_count(module) - nominal) <= 0.1 * nominal, f"{path.stem}: {_count(module):,} parameters"


def test_the_committed_presets_table_is_of_the_presets_as_they_are():
    """README's presets table comes from benchmarks/results/scale_presets.json: same presets, same counts."""
    record = json.loads((BENCHMARKS / "results" / "scale_presets.json").read_text())
    committed = {r["preset"]: r["parameters"] for r in record["results"]}
    assert list(committed) == [p.stem for p in PRESETS]
    for path in PRESETS:
        assert committed[path.stem] == _count(presets.build_on_meta(path)), path.stem


def _section(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["init_args"]


@pytest.mark.parametrize("layout", ["quickstart", "coinrun", "paper"])
def test_the_presets_of_one_layout_fit_together(layout):
    """The ties that cotrain.yaml refuses when broken: the dynamics reads the tokenizer's grid and
    codes, the LAM its resolution and the dynamics its actions."""
    files = {p.stem.split("_")[1]: p for p in PRESETS if p.stem.startswith(f"{layout}_")
             and not (layout == "paper" and p.stem.startswith("paper_dynamics") and p.stem != "paper_dynamics_10b")}
    tokenizer, lam, dynamics = (_section(files[c]) for c in ("tokenizer", "lam", "dynamics"))
    size = tokenizer["image_size"]
    height, width = (size, size) if isinstance(size, int) else size
    assert dynamics["grid"] == [height // tokenizer["patch_size"], width // tokenizer["patch_size"]]
    assert dynamics["vocab_size"] == tokenizer["quantizer"]["init_args"]["codebook_size"]
    assert lam["image_size"] == tokenizer["image_size"]
    assert dynamics["num_actions"] == lam["quantizer"]["init_args"]["codebook_size"]
    if layout == "paper":  # the series is built for the final tokenizer's tokens
        for path in PRESETS:
            if path.stem.startswith("paper_dynamics"):
                assert _section(path)["grid"] == dynamics["grid"], path.stem


def test_the_quickstart_presets_are_the_shipped_configs_size():
    common = _benchmark("common")
    shipped = {"tokenizer": common.read_config(CONFIGS / "tokenizer" / "st_vivit.yaml")["model"],
               "lam": common.read_config(CONFIGS / "models" / "lam_pixel.yaml"),
               "dynamics": common.read_config(CONFIGS / "models" / "dynamics_maskgit.yaml")}
    for component, section in shipped.items():
        (preset,) = [p for p in PRESETS if p.stem.startswith(f"quickstart_{component}")]
        with torch.device("meta"):
            assert _count(presets.build_on_meta(preset)) == _count(common.build_model(section)), component


def test_a_preset_replaces_the_model_of_a_run_config_and_keeps_its_optimiser(video_dir, tmp_path, monkeypatch):
    """``--model configs/scale/X.yaml`` after a component config: the preset's sizes, the config's
    optimiser and schedule (built on the meta device: no memory)."""
    import lightning as L

    from genie_lit.training import GenieCLI

    monkeypatch.chdir(tmp_path)
    with torch.device("meta"):
        cli = GenieCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                       auto_configure_optimizers=False, run=False,
                       args=["--config", str(CONFIGS / "tokenizer" / "st_vivit.yaml"),
                             "--model", str(SCALE / "coinrun_tokenizer_34m.yaml"), "--data.data_dir", str(video_dir)])
    model = cli.model
    assert model.patch_size == 4 and model.encoder.dim == 512 and model.grid == (16, 16)
    assert model._optimizer_fn.keywords["lr"] == 0.001  # st_vivit.yaml's, not the default 3e-4
    assert model._scheduler_fn is not None
    with torch.device("meta"):  # the world: the paper's LAM and 10B dynamics in cotrain.yaml
        world = GenieCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True,
                         subclass_mode_data=True, auto_configure_optimizers=False, run=False,
                         args=["--config", str(CONFIGS / "genie" / "cotrain.yaml"),
                               "--model.lam", str(SCALE / "paper_lam_300m.yaml"),
                               "--model.dynamics", str(SCALE / "paper_dynamics_10b.yaml"),
                               "--data.data_dir", str(video_dir), "--data.resolution", "[96,160]"])
    assert world.model.lam.image_size == world.datamodule.resolution == (96, 160)
    assert world.model.dynamics.grid == (24, 40) and _count(world.model.dynamics) > 9e9


# ------------------------------------------------------------------------------- levers
def _tiny_lam():
    from genie_lit.models import LatentActionModel
    from genie_lit.nn import STTransformer, VectorQuantizer

    torch.manual_seed(0)
    return LatentActionModel(STTransformer(dim=32, depth=2, num_heads=2), STTransformer(dim=32, depth=2, num_heads=2),
                             VectorQuantizer(codebook_size=8, dim=8), image_size=16, patch_size=4)


def _tiny_dynamics():
    from genie_lit.models import DynamicsModel
    from genie_lit.nn import STTransformer

    torch.manual_seed(0)
    return DynamicsModel(STTransformer(dim=32, depth=2, num_heads=2), vocab_size=32, grid=(4, 4), num_actions=8,
                         copy_prior=True)


def _gradients(model, loss_fn) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad()
    loss = loss_fn()
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _block_calls(monkeypatch) -> list[int]:
    """A counter of ST block forward passes (recomputations included: checkpointing skips module hooks)."""
    from genie_lit.nn.transformer import STBlock

    calls, forward = [0], STBlock.forward

    def counted(self, *args, **kwargs):
        calls[0] += 1
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(STBlock, "forward", counted)
    return calls


def test_activation_checkpointing_reaches_the_lam_and_gives_the_same_gradients(monkeypatch):
    """The Acceleration callback switches it on in a model that has no option for it (the LAM);
    the blocks then run twice (forward, recomputation in backward) and the gradients are equal."""
    from genie_lit.callbacks import Acceleration

    model = _tiny_lam().eval()  # eval: the LAM's code bookkeeping does not change between the runs
    video = torch.rand(2, 4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    calls = _block_calls(monkeypatch)
    loss, plain = _gradients(model, lambda: model.compute(video).loss)
    plain_calls = calls[0]
    callback = Acceleration(activation_checkpointing=True)
    callback.setup(None, model, "fit")
    assert callback.applied["checkpointed_backbones"] == 2
    calls[0] = 0
    loss_ckpt, checkpointed = _gradients(model, lambda: model.compute(video).loss)
    assert calls[0] == 2 * plain_calls  # every block was recomputed in the backward pass
    assert loss_ckpt == loss and plain.keys() == checkpointed.keys() and len(plain) > 10
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], rtol=0, atol=1e-7, msg=name)
    with torch.no_grad():  # play and validation (no gradients): nothing is recomputed
        calls[0] = 0
        model.compute(video)
        assert calls[0] == plain_calls


def _dynamics_loss(model):
    generator = torch.Generator().manual_seed(2)
    tokens = torch.randint(0, 32, (2, 3, 4, 4), generator=generator)
    actions = torch.randint(0, 8, (2, 2), generator=generator)
    mask = torch.rand(2, 3, 16, generator=generator) < 0.6
    mask[:, 0] = False
    return lambda: model.compute(tokens, actions, mask=mask).loss


def _compiles(backend: str) -> tuple[float, float, dict, dict]:
    from genie_lit.callbacks import Acceleration

    torch._dynamo.reset()
    model = _tiny_dynamics()
    loss, plain = _gradients(model, _dynamics_loss(model))
    callback = Acceleration(compile=True, compile_backend=backend)
    callback.setup(None, model, "fit")
    assert callback.applied["compiled_blocks"] == 2
    assert all(b._compiled_call_impl is not None for b in model.backbone.blocks)
    loss_compiled, compiled = _gradients(model, _dynamics_loss(model))
    return loss, loss_compiled, plain, compiled


def _assert_same(loss, loss_compiled, plain, compiled):
    assert plain.keys() == compiled.keys()
    assert loss_compiled == pytest.approx(loss, rel=1e-5)
    for name in plain:
        torch.testing.assert_close(compiled[name], plain[name], rtol=1e-4, atol=1e-6, msg=name)


def test_compiled_blocks_give_the_eager_loss_and_gradients():
    """torch.compile's graph capture and autograd split (the aot_eager backend: no C++ compiler)."""
    counters = torch._dynamo.utils.counters
    counters.clear()
    _assert_same(*_compiles("aot_eager"))
    assert counters["stats"]["unique_graphs"] >= 1  # the blocks really went through dynamo


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("GENIE_LIT_TEST_INDUCTOR"),
                    reason="inductor compiles C++ for ~75 s on 2 CPU cores; set GENIE_LIT_TEST_INDUCTOR=1 to run it")
def test_compiled_blocks_with_inductor_give_the_eager_loss_and_gradients():
    """The default backend, which generates C++ on the CPU (passed in ~75 s on 2 shared cores)."""
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("torch.compile's inductor backend needs a C++ compiler on the CPU; none is installed")
    _assert_same(*_compiles("inductor"))


def test_the_fsdp_wrap_policy_selects_exactly_the_transformer_blocks():
    """One FSDP unit per block, of every block type, and nothing else (besides the root)."""
    from genie_lit.models import VideoTokenizer
    from genie_lit.nn import (BLOCK_TYPES, SpacetimeTransformer, SpatialTransformer, STTransformer, VectorQuantizer,
                              block_wrap_policy)

    model = torch.nn.ModuleDict({
        "tokenizer": VideoTokenizer(STTransformer(dim=16, depth=2, num_heads=2),
                                    SpatialTransformer(dim=16, depth=3, num_heads=2), VectorQuantizer(32, 8),
                                    image_size=16, patch_size=4),
        "lam": _tiny_lam(), "dynamics": _tiny_dynamics(),
        "spacetime": SpacetimeTransformer(dim=16, depth=1, num_heads=2)})
    wrapped = set(block_wrap_policy()._run_policy(model, ignored_modules=set(), root_kwargs={})) - {model}
    blocks = {m for m in model.modules() if isinstance(m, BLOCK_TYPES)}
    assert wrapped == blocks and len(blocks) == 2 + 3 + 4 + 2 + 1
    fsdp = yaml.safe_load((CONFIGS / "trainer" / "fsdp.yaml").read_text())
    names = fsdp["trainer"]["strategy"]["init_args"]["auto_wrap_policy"]
    assert sorted(names) == sorted(f"genie_lit.nn.transformer.{t.__name__}" for t in BLOCK_TYPES)


def test_gpu_trainer_configs_append_the_levers_to_the_component_callbacks(video_dir, tmp_path, monkeypatch):
    """gpu.yaml + checkpointing.yaml + compile.yaml after a component config: bf16-mixed, and the
    component's own callbacks kept with the Acceleration callbacks after them (accelerator set to
    cpu here, as this machine has no GPU)."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    from genie_lit.callbacks import Acceleration
    from genie_lit.training import GenieCLI

    monkeypatch.chdir(tmp_path)
    trainer = [str(CONFIGS / "trainer" / f"{name}.yaml") for name in ("gpu", "checkpointing", "compile")]
    cli = GenieCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                   auto_configure_optimizers=False, run=False,
                   args=["--config", str(CONFIGS / "tokenizer" / "st_vivit.yaml"),
                         *sum((["--config", t] for t in trainer), []),
                         "--trainer.accelerator", "cpu", "--data.data_dir", str(video_dir)])
    assert cli.trainer.precision == "bf16-mixed"
    callbacks = cli.trainer.callbacks
    assert any(isinstance(c, ModelCheckpoint) for c in callbacks)
    levers = [c for c in callbacks if isinstance(c, Acceleration)]
    assert [(c.activation_checkpointing, c.compile) for c in levers] == [(True, False), (False, True)]


# ------------------------------------------------------------------------------ gpu check
@pytest.mark.slow
def test_gpu_check_dry_run_runs_every_stage_on_the_cpu_and_writes_one_json(tmp_path):
    """``benchmarks/gpu_check.sh --dry-run``: training steps/s per component in 32-bit and bf16,
    play frames/s with and without the cache, a 1-device FSDP run and the 2-device DDP and FSDP
    runs (2 gloo processes here), all in one JSON. ~30 s on 2 busy cores, most of it the 2 processes'
    start-up (hence slow)."""
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run(["bash", str(BENCHMARKS / "gpu_check.sh"), "--dry-run", "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads(out.read_text())
    stages = record["stages"]
    assert list(stages) == ["train", "play", "fsdp", "multi"] and record["setup"]["dry_run"]
    train = stages["train"]["result"]
    assert {(r["component"], r["precision"]) for r in train} == {
        (c, p) for c in ("tokenizer", "lam", "dynamics") for p in ("32", "bf16")}
    assert all(r["steps_per_s"] > 0 and r["loss"] == r["loss"] for r in train)
    play = stages["play"]["result"]["results"]
    assert play and all(r["world"] == "coinrun" and r["fps_cache"] > 0 and r["fps_no_cache"] > 0 for r in play)
    fsdp = stages["fsdp"]["result"]
    assert fsdp["strategy"] == "fsdp" and fsdp["steps"] == record["setup"]["fit_steps"] and fsdp["loss"] == fsdp["loss"]
    runs = stages["multi"]["result"]["runs"]
    assert [(r["strategy"], r["devices"], r["steps"]) for r in runs] == [
        ("ddp", 2, record["setup"]["fit_steps"]), ("fsdp", 2, record["setup"]["fit_steps"])]
    # the same data, seed and steps: sharded and replicated training agree
    assert runs[0]["loss"] == pytest.approx(runs[1]["loss"], rel=1e-4)
    print(f"dry run: {time.perf_counter() - start:.1f} s")
