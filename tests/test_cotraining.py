"""Co-training over a frozen tokenizer and the token data for the dynamics model: the tokenizer
stays frozen, a wrong tokenizer is refused before training with both values named, the
token-input LAM runs over the tokenizer's codes, and TokenDataModule caches tokens on disk."""

from __future__ import annotations

import pytest
import torch

from genie_lit.pretokenized import TokenDataModule
from genie_lit.models import DynamicsModel, GenieCoTraining, LatentActionModel, VideoTokenizer
from genie_lit.models.checkpoints import CheckpointError, load_module
from genie_lit.nn import STTransformer, VectorQuantizer


def tiny_lam(**kwargs) -> LatentActionModel:
    return LatentActionModel(STTransformer(dim=32, depth=1, num_heads=2), STTransformer(dim=32, depth=1, num_heads=2),
                             VectorQuantizer(codebook_size=8, dim=8), image_size=64, patch_size=8, **kwargs)


def tiny_dynamics(vocab_size: int = 64, grid=(8, 8)) -> DynamicsModel:
    return DynamicsModel(STTransformer(dim=32, depth=1, num_heads=2), vocab_size=vocab_size, grid=grid, num_actions=8)


def test_the_tokenizer_stays_frozen_through_train_and_a_training_step(tokenizer_ckpt):
    torch.manual_seed(0)
    model = GenieCoTraining(tiny_lam(), tiny_dynamics(), tokenizer_ckpt=str(tokenizer_ckpt))
    before = {k: v.clone() for k, v in model.tokenizer.state_dict().items()}
    model.train()
    assert not model.tokenizer.training and model.lam.training
    assert not any(p.requires_grad for p in model.tokenizer.parameters())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    out = model.compute(torch.rand(2, 4, 3, 64, 64))
    out["loss"].backward()
    optimizer.step()
    assert all(torch.equal(before[k], v) for k, v in model.tokenizer.state_dict().items())
    assert all(p.grad is None for p in model.tokenizer.parameters())


def test_under_bf16_autocast_the_dynamics_learns_the_tokens_that_play_shows_it(tokenizer_ckpt, monkeypatch):
    """precision bf16-mixed autocasts the training step; the frozen tokenizer must still encode in
    float32 (bf16 changes most of its nearest codes), as the playable world does."""
    torch.manual_seed(0)
    model = GenieCoTraining(tiny_lam(), tiny_dynamics(), tokenizer_ckpt=str(tokenizer_ckpt)).train()
    video = torch.rand(2, 4, 3, 64, 64)
    seen = []
    compute = model.dynamics.compute
    monkeypatch.setattr(model.dynamics, "compute", lambda tokens, actions: seen.append(tokens) or compute(tokens, actions))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model.compute(video)
    with torch.no_grad():
        expected = model.tokenizer.encode(video)
    assert torch.equal(seen[0], expected)


def test_a_tokenizer_that_disagrees_with_the_configs_is_refused_naming_both_values(tokenizer_ckpt):
    with pytest.raises(CheckpointError, match=r"64 codes.*vocab_size=1024"):
        GenieCoTraining(tiny_lam(), tiny_dynamics(vocab_size=1024), tokenizer_ckpt=str(tokenizer_ckpt))
    with pytest.raises(CheckpointError, match=r"grid|tokens"):
        GenieCoTraining(tiny_lam(), tiny_dynamics(grid=(4, 4)), tokenizer_ckpt=str(tokenizer_ckpt))
    lam_32 = LatentActionModel(STTransformer(dim=32, depth=1, num_heads=2), STTransformer(dim=32, depth=1, num_heads=2),
                               VectorQuantizer(codebook_size=8, dim=8), image_size=32, patch_size=4)
    with pytest.raises(CheckpointError, match=r"64.*32|32.*64"):
        GenieCoTraining(lam_32, tiny_dynamics(), tokenizer_ckpt=str(tokenizer_ckpt))


def test_a_missing_or_wrong_kind_of_tokenizer_checkpoint_is_refused(tokenizer_ckpt, world_ckpt, tmp_path):
    missing = tmp_path / "nope.ckpt"
    with pytest.raises((CheckpointError, FileNotFoundError), match="nope.ckpt"):
        GenieCoTraining(tiny_lam(), tiny_dynamics(), tokenizer_ckpt=str(missing))
    with pytest.raises(CheckpointError, match="GenieCoTraining"):
        GenieCoTraining(tiny_lam(), tiny_dynamics(), tokenizer_ckpt=str(world_ckpt))
    with pytest.raises(CheckpointError, match="tokenizer"):
        GenieCoTraining(tiny_lam(), tiny_dynamics()).compute(torch.rand(1, 2, 3, 64, 64))


@pytest.mark.parametrize("assignment", ["search", "nearest"])
def test_the_token_input_lam_reads_the_tokenizers_codes(tokenizer_ckpt, assignment):
    tokenizer = load_module(tokenizer_ckpt, VideoTokenizer)
    lam = tiny_lam(input_type="tokens", token_dim=tokenizer.quantizer.dim, assignment=assignment, warmup_steps=0)
    lam.attach_tokenizer(tokenizer)
    video = torch.rand(2, 4, 3, 64, 64)
    out = lam.train().compute(video)
    out.loss.backward()
    assert out.prediction.shape == (2, 3, 3, 64, 64) and out.actions.shape == (2, 3)
    assert lam.encoder_embed.weight.grad is not None
    with pytest.raises(ValueError, match="token_dim"):
        tiny_lam(input_type="tokens", token_dim=tokenizer.quantizer.dim + 1).attach_tokenizer(tokenizer)


def test_token_data_are_cached_on_disk_and_reused(video_dir, tokenizer_ckpt, tmp_path, monkeypatch):
    cache = tmp_path / "tokens"
    data = TokenDataModule(str(video_dir), str(tokenizer_ckpt), actions="recorded", clip_length=4, cache_dir=str(cache))
    data.setup("fit")
    files = sorted(cache.rglob("*.tokens.npy"))
    assert files, "no token cache written"
    batch = next(iter(data.train_dataloader()))
    assert batch["tokens"].shape[1:] == (4, 8, 8) and batch["actions"].shape[1:] == (3,)
    assert batch["tokens"].max() < 64
    stamps = {f: f.stat().st_mtime_ns for f in files}

    def encode_again(self, frames):
        raise AssertionError("re-encoded although the tokens are cached")

    monkeypatch.setattr(TokenDataModule, "_encode", encode_again)
    again = TokenDataModule(str(video_dir), str(tokenizer_ckpt), actions="recorded", clip_length=4,
                            cache_dir=str(cache))
    again.setup("fit")
    assert {f: f.stat().st_mtime_ns for f in files} == stamps


def test_a_world_saved_with_options_that_no_longer_exist_still_loads_at_their_only_value(world_ckpt, tmp_path):
    """LAM options removed from the constructor (they were never set to anything else) are dropped
    from an old checkpoint's hyperparameters; any other value is refused by name."""
    from genie_lit.models import Genie

    checkpoint = torch.load(world_ckpt, map_location="cpu", weights_only=True)
    old = {"change_threshold": 0.02, "warmup_noise": 0.2, "pooling": "max", "restart_noise": 0.05,
           "context_transitions": 0}
    checkpoint["hyper_parameters"]["lam"]["init_args"].update(old)
    torch.save(checkpoint, tmp_path / "old.ckpt")
    world = Genie.from_checkpoint(str(tmp_path / "old.ckpt"))
    reference = Genie.from_checkpoint(str(world_ckpt))
    assert all(torch.equal(a, b) for a, b in zip(world.lam.state_dict().values(), reference.lam.state_dict().values()))
    checkpoint["hyper_parameters"]["lam"]["init_args"]["pooling"] = "attention"
    torch.save(checkpoint, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="pooling='attention'.*no longer exists"):
        Genie.from_checkpoint(str(tmp_path / "other.ckpt"))


def test_a_world_saved_with_the_flat_search_options_of_earlier_versions_loads_with_them(world_ckpt, tmp_path):
    """Before ``SearchOptions`` the search assignment's options were flat LAM arguments: an old
    checkpoint's values move under ``search`` and the same model is built."""
    from genie_lit.models import Genie

    checkpoint = torch.load(world_ckpt, map_location="cpu", weights_only=True)
    lam = checkpoint["hyper_parameters"]["lam"]["init_args"]
    search = lam.pop("search", None) or {}
    lam.update({"search_temperature": 0.25, "head_hidden": search.get("head_hidden", 256),
                "null_action_weight": 0.5, "search_warmup_steps": 3, "action_inference": "search"})
    torch.save(checkpoint, tmp_path / "flat.ckpt")
    world = Genie.from_checkpoint(str(tmp_path / "flat.ckpt"))
    assert world.lam.search.temperature == 0.25 and world.lam.search.null_action_weight == 0.5
    assert world.lam.search.warmup_steps == 3 and world.lam.action_inference == "search"
    reference = Genie.from_checkpoint(str(world_ckpt))
    assert all(torch.equal(a, b) for a, b in zip(world.lam.state_dict().values(), reference.lam.state_dict().values()))


def test_a_world_over_the_decoder_phase_trains_exactly_as_over_the_tokenizer_it_started_from(
        tokenizer_ckpt, video_dir, tmp_path):
    """The decoder phase keeps every token, so co-training over it (same seed) gives the same LAM and
    dynamics, weight for weight, validation rollouts included; only the decoder inside differs. This
    is why ``genie-lit quickstart``'s decoder phase leaves the world it trains unchanged."""
    import json

    from conftest import CONFIGS, TINY, fit_checkpoint

    decoder = fit_checkpoint(CONFIGS / "tokenizer" / "st_vivit.yaml", TINY / "tiny_tokenizer.yaml", video_dir,
                             tmp_path / "decoder", "--config", str(CONFIGS / "tokenizer" / "decoder.yaml"),
                             "--model.init_args.init_from", str(tokenizer_ckpt), "--trainer.default_root_dir",
                             str(tmp_path / "decoder"), "--model.init_args.optimizer.init_args.lr", "0.01", steps=3)
    rollouts = {"class_path": "genie_lit.callbacks.RolloutMetrics",
                "init_args": {"every_n_val_epochs": 1, "max_clips": 2, "t": 2, "maskgit_steps": 2, "fvd": False}}
    worlds = {}
    for name, tokenizer in (("first", tokenizer_ckpt), ("decoder", decoder)):
        ckpt = fit_checkpoint(CONFIGS / "genie" / "cotrain.yaml", TINY / "tiny_cotrain.yaml", video_dir,
                              tmp_path / f"world_{name}", "--model.tokenizer_ckpt", str(tokenizer),
                              "--seed_everything", "0",
                              f"--trainer.callbacks+={json.dumps(rollouts)}", steps=4)
        worlds[name] = torch.load(ckpt, weights_only=True)["state_dict"]
    first, second = worlds["first"], worlds["decoder"]
    assert any(not torch.equal(first[k], second[k]) for k in first if k.startswith("tokenizer.decoder."))
    for key in first:
        if key.startswith(("lam.", "dynamics.")):
            assert torch.equal(first[key], second[key]), key
