"""Few-label supervision of the latent action model (``labelled_fraction``): off by default, and
then no true action can reach a gradient; on, a head on the latent action learns the true actions
of a fixed, hashed fraction of episodes and its gradient reaches the LAM's encoder."""

import copy

import pytest
import torch

from genie_lit.models import LatentActionModel, SearchOptions
from genie_lit.models.lam_options import labelled_episodes
from genie_lit.nn import STTransformer, VectorQuantizer

pytestmark = pytest.mark.filterwarnings(r"ignore:You are trying to `self.log\(\)`")


def tiny_lam(**kwargs) -> LatentActionModel:
    torch.manual_seed(0)
    return LatentActionModel(STTransformer(dim=32, depth=1, num_heads=2), STTransformer(dim=32, depth=1, num_heads=2),
                             VectorQuantizer(codebook_size=4, dim=8), image_size=16, patch_size=4,
                             **{"search": SearchOptions(head_hidden=32), **kwargs})


def batch(b: int = 3, t: int = 4) -> dict:
    g = torch.Generator().manual_seed(1)
    return {"video": torch.rand(b, t, 3, 16, 16, generator=g), "actions": torch.randint(0, 6, (b, t - 1), generator=g),
            "game": torch.zeros(b, dtype=torch.long), "episode": [f"pong/ep{i:04d}.mp4" for i in range(b)]}


def loss_and_grads(lam: LatentActionModel, data: dict) -> tuple[torch.Tensor, list[torch.Tensor]]:
    lam = copy.deepcopy(lam).train()
    torch.manual_seed(0)
    loss = lam.training_step(data, 0)
    loss.backward()
    return loss.detach(), [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in lam.parameters()]


@pytest.mark.parametrize("assignment", ["search", "nearest"])
def test_with_fraction_zero_the_loss_and_gradients_ignore_the_true_actions(assignment):
    lam = tiny_lam(assignment=assignment, warmup_steps=0)
    full = batch()
    shuffled = {**full, "actions": full["actions"][torch.randperm(3)].flip(-1)}
    no_sidecar = {**full, "actions": torch.full_like(full["actions"], -1)}
    absent = {k: v for k, v in full.items() if k not in ("actions", "episode")}
    reference_loss, reference_grads = loss_and_grads(lam, full)
    for variant in (shuffled, no_sidecar, absent):
        loss, grads = loss_and_grads(lam, variant)
        assert torch.equal(loss, reference_loss)
        assert all(torch.equal(a, b) for a, b in zip(grads, reference_grads))
    assert not any("label" in name for name, _ in lam.named_parameters())


def test_with_a_fraction_the_head_loss_is_present_and_reaches_the_encoder():
    lam = tiny_lam(labelled_fraction=1.0).train()
    data = batch()
    out = lam.compute(data["video"], **lam.label_inputs(data))
    assert out.label_loss is not None and out.label_loss.item() > 0
    grads = torch.autograd.grad(out.label_loss, list(lam.encoder.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    # the true actions now change the loss
    shuffled = {**data, "actions": (data["actions"] + 1) % 6}
    assert not torch.equal(lam.compute(data["video"], **lam.label_inputs(shuffled)).label_loss, out.label_loss)


def test_unlabelled_episodes_and_missing_sidecars_give_no_label_signal():
    lam = tiny_lam(labelled_fraction=0.5).train()
    data = batch(b=8)
    chosen = labelled_episodes(data["episode"], 0.5)
    assert 0 < int(chosen.sum()) < 8  # a mix in this batch
    # changing the actions of unlabelled episodes only, or hiding them with -1, leaves the loss unchanged
    changed = data["actions"].clone()
    changed[~chosen] = (changed[~chosen] + 3) % 6
    hidden = data["actions"].clone()
    hidden[~chosen] = -1
    losses = [lam.compute(data["video"], actions=a, episodes=data["episode"]).label_loss
              for a in (data["actions"], changed, hidden)]
    assert torch.allclose(losses[0], losses[1]) and torch.allclose(losses[0], losses[2])


def test_the_labelled_episodes_are_a_fixed_hashed_fraction():
    ids = [f"game/ep{i:04d}.mp4" for i in range(2000)]
    picked = labelled_episodes(ids, 0.025)
    assert torch.equal(picked, labelled_episodes(ids, 0.025))
    assert 0.015 < picked.float().mean() < 0.035
    assert bool((labelled_episodes(ids, 0.1) | ~picked).all())  # a larger fraction keeps the smaller one's episodes
    assert not labelled_episodes(ids, 0.0).any()


def test_batches_without_episode_ids_are_refused_when_labels_are_on():
    lam = tiny_lam(labelled_fraction=0.1)
    with pytest.raises(ValueError, match="EpisodeVideoDataModule"):
        lam.label_inputs({k: v for k, v in batch().items() if k != "episode"})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        tiny_lam(labelled_fraction=1.5)


def test_the_episode_data_module_names_each_clips_episode(video_dir):
    from genie_lit.agents import EpisodeVideoDataModule

    dm = EpisodeVideoDataModule(str(video_dir), clip_length=4, batch_size=2, val_fraction=0.25, cache_index=False)
    dm.setup("fit")
    item = dm.datasets["train"][0]
    assert item["episode"].endswith(".mp4") and item["video"].shape == (4, 3, 64, 64)
    first = next(iter(dm.train_dataloader()))
    assert len(first["episode"]) == 2 and all(isinstance(e, str) for e in first["episode"])


def test_a_labelled_share_draws_that_share_of_training_clips_from_the_labelled_episodes(video_dir):
    from genie_lit.agents import EpisodeVideoDataModule

    args = {"clip_length": 4, "batch_size": 2, "val_fraction": 0.25, "cache_index": False}
    dm = EpisodeVideoDataModule(str(video_dir), labelled_fraction=0.6, labelled_share=0.5, **args)
    dm.setup("fit")
    labelled = dm.datasets["train"].labelled(0.6)
    assert int(labelled.sum()) == 6 and len(labelled) == 18  # one of the three training episodes
    torch.manual_seed(0)
    loader = dm.train_dataloader()
    draws = torch.tensor([i for _ in range(100) for i in loader.sampler])
    assert len(draws) == 100 * len(labelled)  # an epoch is still one pass's worth of clips
    assert labelled[draws].float().mean().item() == pytest.approx(0.5, abs=0.03)  # uniform would give 1/3
    first = next(iter(loader))
    assert len(first["episode"]) == 2
    # bad settings name the problem: a share outside (0, 1), a share without labels, a share that
    # labels no training clip, a model that labels other episodes than the data module draws
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        EpisodeVideoDataModule(str(video_dir), labelled_fraction=0.6, labelled_share=1.0, **args)
    with pytest.raises(ValueError, match="data.labelled_fraction is 0"):
        EpisodeVideoDataModule(str(video_dir), labelled_share=0.5, **args)
    none = EpisodeVideoDataModule(str(video_dir), labelled_fraction=0.1, labelled_share=0.5, **args)
    none.setup("fit")
    with pytest.raises(ValueError, match="labels 0 of 18"):
        none.train_dataloader()
    import types

    lam = tiny_lam(labelled_fraction=0.5)
    lam._trainer = types.SimpleNamespace(datamodule=dm)
    with pytest.raises(ValueError, match="set both to the same value"):
        lam.check_labelled_episodes()


def test_co_training_forwards_the_fraction_to_its_lam():
    from genie_lit.models import DynamicsModel, GenieCoTraining

    lam = tiny_lam()
    dynamics = DynamicsModel(STTransformer(dim=32, depth=1, num_heads=2), vocab_size=16, grid=(4, 4), num_actions=4)
    assert GenieCoTraining(lam, dynamics).lam.labelled_fraction == 0
    cotrain = GenieCoTraining(lam, dynamics, labelled_fraction=0.025)
    assert cotrain.lam.labelled_fraction == 0.025 and hasattr(cotrain.lam, "label_head")


def test_fit_a_few_label_lam_through_the_cli(video_dir, tmp_path):
    from conftest import CONFIGS, fit_checkpoint

    tiny = tmp_path / "tiny.yaml"
    tiny.write_text("model:\n  init_args:\n    encoder: {init_args: {dim: 32, depth: 1, num_heads: 2}}\n"
                    "    decoder: {init_args: {dim: 32, depth: 1, num_heads: 2}}\n    search: {head_hidden: 32}\n"
                    "data:\n  init_args: {clip_length: 4, batch_size: 2, num_workers: 0, val_fraction: 0.25}\n")
    ckpt = fit_checkpoint(CONFIGS / "lam" / "pixel.yaml", tiny, video_dir, tmp_path / "run",
                          "--data", "genie_lit.agents.EpisodeVideoDataModule",
                          "--model.init_args.labelled_fraction", "1.0", "--model.init_args.search.anchor_labels", "true",
                          "--model.init_args.search.unlabelled_weight", "0", steps=2)
    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert checkpoint["hyper_parameters"]["labelled_fraction"] == 1.0
    search = checkpoint["hyper_parameters"]["search"]  # the README's flags, merged into the config's options
    assert search["anchor_labels"] and search["unlabelled_weight"] == 0 and search["null_action_weight"] == 1.0
    assert checkpoint["state_dict"]["label_head.weight"].shape == (18, 16)  # 18 Atari actions x code dim
    from genie_lit.models.checkpoints import load_module

    assert load_module(ckpt, LatentActionModel).labelled_fraction == 1.0  # reloads with its head


def test_a_fraction_that_selects_no_training_episode_is_reported(video_dir):
    import types
    import warnings

    from genie_lit.agents import EpisodeVideoDataModule

    dm = EpisodeVideoDataModule(str(video_dir), clip_length=4, batch_size=2, val_fraction=0.25, cache_index=False)
    dm.setup("fit")
    for fraction, expect in ((1e-9, True), (1.0, False)):
        lam = tiny_lam(labelled_fraction=fraction)
        lam._trainer = types.SimpleNamespace(datamodule=dm)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lam.check_labelled_episodes()
        assert any("selects none" in str(w.message) for w in caught) == expect


def test_anchored_labels_fix_the_labelled_transitions_codes_and_leave_the_rest_to_the_e_step():
    options = SearchOptions(head_hidden=32, inference="search")  # in training the E-step's codes are reported
    data = batch(b=8)
    chosen = labelled_episodes(data["episode"], 0.5)
    assert 0 < int(chosen.sum()) < 8
    free = tiny_lam(labelled_fraction=0.5, search=options).train()
    anchored = tiny_lam(labelled_fraction=0.5, search=SearchOptions(head_hidden=32, inference="search",
                                                                     anchor_labels=True)).train()
    anchored.load_state_dict(free.state_dict())
    codes = anchored.compute(data["video"], **anchored.label_inputs(data)).actions
    e_step = free.compute(data["video"], **free.label_inputs(data)).actions
    assert torch.equal(codes[chosen], data["actions"][chosen] % 4)  # the true action modulo the 4 codes
    assert torch.equal(codes[~chosen], e_step[~chosen])
    # evaluation never reads labels: the anchored model infers as the free one does
    assert torch.equal(anchored.eval().infer_actions(data["video"]), free.eval().infer_actions(data["video"]))


def test_anchored_labels_need_the_search_assignment_and_labels():
    with pytest.raises(ValueError, match="assignment='search'"):
        tiny_lam(assignment="continuous", labelled_fraction=0.1, search=SearchOptions(anchor_labels=True))
    lam = tiny_lam(search=SearchOptions(head_hidden=32, anchor_labels=True))
    with pytest.raises(ValueError, match="labelled_fraction is 0"):
        lam.check_labelled_episodes()


def test_with_unlabelled_weight_zero_the_encoder_learns_from_the_labelled_transitions_alone():
    """The E-step codes of unlabelled transitions depend on the decoder; with ``unlabelled_weight: 0``
    the encoder's gradient does not (it is a supervised inverse-dynamics model on the labels)."""
    data = batch(b=8)
    assert 0 < int(labelled_episodes(data["episode"], 0.5).sum()) < 8

    def encoder_grads(weight: float, decoder_seed: int) -> list[torch.Tensor]:
        lam = tiny_lam(labelled_fraction=0.5, search=SearchOptions(head_hidden=32, anchor_labels=True,
                                                                   unlabelled_weight=weight)).train()
        torch.manual_seed(decoder_seed)
        for p in [*lam.decoder.parameters(), *lam.head.parameters()]:
            torch.nn.init.normal_(p, std=0.5)
        loss = lam.compute(data["video"], **lam.label_inputs(data)).loss
        return torch.autograd.grad(loss, list(lam.encoder.parameters()))

    assert all(torch.allclose(a, b) for a, b in zip(encoder_grads(0.0, 1), encoder_grads(0.0, 2)))
    assert not all(torch.allclose(a, b) for a, b in zip(encoder_grads(1.0, 1), encoder_grads(1.0, 2)))
    with pytest.raises(ValueError, match="anchor_labels"):
        SearchOptions(unlabelled_weight=0.0)
