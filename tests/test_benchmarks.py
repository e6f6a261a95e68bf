"""The model benchmarks run end to end in --quick mode and write the documented JSON.

Timings are not asserted (the CPU is shared); only that every figure the README quotes is there.
"""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _module(name: str, monkeypatch):
    """The benchmark script ``name`` imported as a module; its ``genie-lit`` calls run in this process
    (:func:`run_in_process`)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the scripts import their neighbour common.py
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if hasattr(module, "run_genie_lit"):
        monkeypatch.setattr(module, "run_genie_lit", run_in_process)
    return module


def run_in_process(args: list[str], threads: int, log: Path) -> None:
    """``common.run_genie_lit`` without its subprocess: the same ``genie-lit ARGS`` through
    ``genie_lit.cli.main`` here, with ``threads`` CPU threads and the output appended to ``log``, a
    failure raised naming the log. Each subprocess would import torch and Lightning again (several
    seconds); the subprocess itself is tested once, in test_run_genie_lit_runs_the_cli_in_a_subprocess."""
    import contextlib

    import torch

    from genie_lit.cli import main

    log.parent.mkdir(parents=True, exist_ok=True)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with log.open("a") as out, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                code = main(list(args))
            except SystemExit as exit_:
                code = exit_.code
    finally:
        torch.set_num_threads(before)
    if code:
        raise RuntimeError(f"genie-lit {args[0]} failed (exit {code}); see {log}")


def test_run_genie_lit_runs_the_cli_in_a_subprocess(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from common import run_genie_lit

    run_genie_lit(["play", "--help"], 1, tmp_path / "log.txt")
    assert "--ckpt" in (tmp_path / "log.txt").read_text()
    with pytest.raises(RuntimeError, match=r"genie-lit play failed \(exit 2\); see .*log.txt"):
        run_genie_lit(["play", "--no-such-option"], 1, tmp_path / "log.txt")


def _run(name: str, tmp_path: Path, monkeypatch, *args: str) -> dict:
    module = _module(name, monkeypatch)
    out = tmp_path / f"{name}.json"
    record = module.main(["--quick", "--out", str(out), *args])
    written = json.loads(out.read_text())
    assert written["results"] == json.loads(json.dumps(record["results"]))
    machine = written["machine"]
    assert {"torch", "threads", "load_average_at_start", "load_average_at_end"} <= set(machine)
    assert len(machine["load_average_at_start"]) == 3
    return written


def test_a_quick_run_never_overwrites_a_committed_result(tmp_path, monkeypatch):
    """``--quick`` aimed at ``results/`` (every script's default) writes to ``runs/quick/``;
    an explicit path elsewhere, or a full run, is kept."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from common import REPO, RESULTS_DIR, quick_out

    committed = RESULTS_DIR / "lam_levers.json"
    assert quick_out(committed, quick=True) == REPO / "runs" / "quick" / "lam_levers.json"
    assert quick_out(committed, quick=False) == committed
    assert quick_out(str(tmp_path / "x.json"), quick=True) == tmp_path / "x.json"


def test_a_screen_run_is_keyed_by_its_recording_settings_and_config_values(tmp_path, monkeypatch):
    """A screen's cached run is read back only for the same recording, settings and default config
    values: a changed learning rate, flag or recording is another run; a reworded comment is not."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from common import run_key

    config = tmp_path / "c.yaml"
    config.write_text("# a comment\nmodel: {lr: 0.001}\n")
    key = run_key(tmp_path / "data", (config,), True, 32)
    config.write_text("# another comment\nmodel: {lr: 0.001}\n")
    assert run_key(tmp_path / "data", (config,), True, 32) == key
    config.write_text("model: {lr: 0.003}\n")
    changed = run_key(tmp_path / "data", (config,), True, 32)
    assert len({key, changed, run_key(tmp_path / "data", (config,), False, 32),
                run_key(tmp_path / "other", (config,), True, 32)}) == 4


def test_an_edited_lam_lever_is_another_run(tmp_path, monkeypatch):
    """The LAM screen keeps a run under a key of the variant's own options too: editing a variant's
    overrides (or its labelled share) never reads back the run of its old options."""
    levers = _lam_levers(monkeypatch)

    def record():
        return levers.run_record("persistence", 0, str(tmp_path), 10, True, False, str(tmp_path))

    first = record()
    assert record() == first
    monkeypatch.setitem(levers.VARIANTS, "persistence", {"search": {"persistence": 2.0}})
    edited = record()
    monkeypatch.setitem(levers.LABELLED_SHARE, "persistence", 0.5)
    assert len({first, edited, record()}) == 3


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and value > 0 and math.isfinite(value)


@pytest.mark.slow
def test_tokenizer_scaling_reports_time_memory_and_ratios(tmp_path, monkeypatch):
    record = _run("tokenizer_scaling", tmp_path, monkeypatch, "--threads", "1")
    variants = {"ST-ViViT", "ViT", "C-ViViT"}
    frames = record["setup"]["frames"]
    assert {(r["variant"], r["frames"]) for r in record["results"]} == {(v, t) for v in variants for t in frames}
    for r in record["results"]:
        assert _positive(r["step"]["median_s"]) and _positive(r["attention_gflops_forward"])
        assert _positive(r["peak_step_bytes"]), r["memory"]  # measured in a subprocess
    assert set(record["ratios"]) == variants
    for ratio in record["ratios"].values():
        assert {"time", "memory", "attention_flops", "frames"} <= set(ratio)
        assert ratio["attention_flops"] >= 4 - 1e-9  # exact: at least linear growth in T


def test_train_throughput_reports_every_component(tmp_path, monkeypatch):
    record = _run("train_throughput", tmp_path, monkeypatch, "--threads", "1")
    assert {r["component"] for r in record["results"]} == {"tokenizer", "lam", "dynamics", "cotrain"}
    for r in record["results"]:
        assert r["threads"] == 1 and _positive(r["frames_per_s"]) and _positive(r["step"]["median_s"])
        assert r["frames_per_s"] == pytest.approx(r["batch"] * r["clip_length"] / r["step"]["median_s"])


def test_world_step_cost_takes_the_quickstart_step_apart(tmp_path, monkeypatch):
    record = _run("world_step_cost", tmp_path, monkeypatch, "--threads", "1")
    cases = {r["case"]: r for r in record["results"]}
    assert set(cases) == {"step", "step, tokens given", "encode", "LAM loss + backward", "dynamics loss + backward",
                          "validation batch"}
    assert cases["step"]["share_of_step"] == 1.0
    assert all(_positive(r["seconds"]["median_s"]) and _positive(r["share_of_step"]) for r in cases.values())


def test_world_step_cost_profiles_the_32_bit_step_by_operator_family(tmp_path, monkeypatch):
    record = _run("world_step_cost", tmp_path, monkeypatch, "--threads", "1", "--precision", "32", "--profile")
    assert record["setup"]["precision"] == "32"
    shares = record["profile"]["shares"]
    assert set(shares) == {"matrix products", "attention", "element-wise and copies", "the rest"}
    assert sum(shares.values()) == pytest.approx(1.0) and all(share >= 0 for share in shares.values())
    assert shares["matrix products"] > 0 and shares["attention"] > 0
    assert all(_positive(record["profile"][k]) for k in ("matmul_gflops", "matmul_gflops_per_s", "reference_gflops_per_s"))


def test_play_fps_reports_cache_and_recompute_per_context(tmp_path, monkeypatch):
    record = _run("play_fps", tmp_path, monkeypatch)
    contexts = record["setup"]["contexts"]
    seen = {(r["world"], r["maskgit_steps"], r["context"]) for r in record["results"]}
    assert seen == {("quickstart", s, L) for s in (4, 8) for L in contexts} | {("coinrun", 25, L) for L in contexts}
    for r in record["results"]:
        assert _positive(r["fps_cache"]) and _positive(r["fps_no_cache"])
        assert r["speedup"] == pytest.approx(r["no_cache"]["median_s"] / r["cache"]["median_s"])
        assert r["attended_frames"] == min(r["context"] + 1, record["setup"]["context_length"])
    assert coinrun_grid(record) == 256  # 64x64 at patch 4, even in quick mode
    assert "quickstart_min_fps_cache_4_steps" in record["targets"]


def coinrun_grid(record: dict) -> int:
    return next(r["shape"]["tokens_per_frame"] for r in record["results"] if r["world"] == "coinrun")


@pytest.mark.slow
def test_lam_assignment_scores_every_variant_against_true_actions(tmp_path, monkeypatch):
    pytest.importorskip("ale_py")
    record = _run("lam_assignment", tmp_path, monkeypatch)
    assert [r["variant"] for r in record["results"]] == ["nearest", "search", "oracle"]
    for r in record["results"]:
        assert r["steps"] >= 1 and r["labelled"] > 0
        assert 0 <= r["nmi"] <= 1 and 0 <= r["nmi_chance"] <= 1
        assert set(r["games"]) == {"boxing", "breakout", "pong"}


def test_lam_levers_scores_every_variant_on_the_test_episodes_and_keeps_each_run(tmp_path, monkeypatch):
    pytest.importorskip("ale_py")
    record = _run("lam_levers", tmp_path, monkeypatch)
    variants = {"quickstart", "no_null_action", "decoder_window1", "balanced", "augment", "continuous",
                "continuous_augment", "labels", "continuous_labels", "labels_each_game", "anchored_labels",
                "anchored_labels_only", "anchored_labels_half", "anchored_labels_only_half", "oracle",
                "labels_only", "latent_target", "deep_decoder", "persistence", "persistence3"}
    assert {r["variant"] for r in record["results"]} == variants == set(record["summary"])
    assert record["setup"]["split_scored"] == "test"
    for r in record["results"]:
        assert r["steps"] == 3 and r["labelled"] > 0 and 0 <= r["nmi"] <= 1 and 0 <= r["nmi_8"] <= 1
        assert set(r["games"]) == {"breakout", "pong"}
    assert len(list((tmp_path / "lam_levers_runs").glob("*.json"))) == len(variants)


def _lam_levers(monkeypatch):
    return _module("lam_levers", monkeypatch)


def test_a_labelled_share_draws_that_share_of_clips_from_the_labelled_episodes(monkeypatch):
    module = _lam_levers(monkeypatch)
    starts = np.array([100.0, 300.0, 50.0, 50.0])
    labelled = np.array([False, True, False, False])
    odds = module.labelled_share_odds(starts, labelled, 0.5)
    assert odds.sum() == pytest.approx(1.0) and odds[1] == pytest.approx(0.5)
    assert odds[[0, 2, 3]] == pytest.approx([0.25, 0.125, 0.125])  # the rest in proportion to their clips
    with pytest.raises(SystemExit, match="labelled and unlabelled"):
        module.labelled_share_odds(starts, np.zeros(4, dtype=bool), 0.5)


def test_a_lam_lever_changes_only_its_own_options(monkeypatch):
    module = _lam_levers(monkeypatch)
    base = module.lam_section("quickstart", quick=False)["init_args"]
    deep = module.lam_section("deep_decoder", quick=False)["init_args"]
    window = module.lam_section("decoder_window1", quick=False)["init_args"]
    assert deep["decoder"]["init_args"] == {**base["decoder"]["init_args"], "depth": 4}
    assert {k: v for k, v in deep.items() if k != "decoder"} == {k: v for k, v in base.items() if k != "decoder"}
    assert window["search"] == {**base["search"], "decoder_window": 1}  # merged into, not replacing, the options


def test_lam_levers_latent_target_trains_the_encoder_through_the_action_against_a_slow_copy(monkeypatch):
    import torch

    module = _lam_levers(monkeypatch)
    lam = module.build_model(module.lam_section("latent_target", quick=True))
    forward = module.LatentForward(lam)
    video = torch.rand(2, 4, 3, *lam.image_size)
    forward.loss(video).backward()
    assert lam.to_latent.weight.grad.abs().sum() > 0 and forward.predictor[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in forward.target.parameters())  # the target is never trained
    assert lam.decoder_embed.weight.grad is None  # no pixel decoder in this objective
    before = [t.clone() for t in forward.target.encoder.parameters()]
    with torch.no_grad():
        for p in lam.encoder.parameters():
            p.add_(1.0)
    forward.update_target()  # the target moves TARGET_TAU of the way towards the online encoder
    for old, new, online in zip(before, forward.target.encoder.parameters(), lam.encoder.parameters()):
        assert torch.allclose(new, old + module.TARGET_TAU * (online - old), atol=1e-6)


def test_lam_levers_merges_predicted_actions_into_8_codes_keeping_the_most_information(monkeypatch):
    module = _lam_levers(monkeypatch)
    from genie_lit.metrics.latent_actions import normalized_mutual_information as nmi

    few = np.array([[5, 1], [0, 7]])
    assert module.merged_nmi(few.tolist(), 8) == pytest.approx(nmi(few))  # 8 codes or fewer: unchanged
    # 9 actions each predicted perfectly: 8 groups must merge two, losing log 9 - H(2/9, 7 x 1/9) bits
    rows = -(2 / 9 * np.log(2 / 9) + 7 / 9 * np.log(1 / 9))
    assert module.merged_nmi((10 * np.eye(9)).tolist(), 8) == pytest.approx(rows / ((rows + np.log(9)) / 2))
    # an unused prediction row is dropped first, and two rows with the same true actions merge at no loss
    table = np.zeros((10, 9))
    table[:9, :] = 10 * np.eye(9)
    table[8, :] = table[7, :]
    merged = np.vstack([10 * np.eye(9)[:7], table[7] + table[8]])
    assert module.merged_nmi(table.tolist(), 8) == pytest.approx(nmi(merged))


@pytest.mark.slow
def test_tokenizer_levers_trains_each_variant_through_the_cli_and_scores_it(tmp_path, monkeypatch):
    pytest.importorskip("ale_py")
    record = _run("tokenizer_levers", tmp_path, monkeypatch, "--work", str(tmp_path / "runs"),
                  "--variants", "quickstart", "code_dim8")
    assert [r["variant"] for r in record["results"]] == ["quickstart", "code_dim8"] == list(record["summary"])
    for r in record["results"]:
        assert r["steps"] == 4 and r["clips"] >= 1 and 0 < r["codebook_usage"] <= 1 and math.isfinite(r["psnr"])
    # each variant really trained with its overrides: 8-dimensional codes in one checkpoint only
    import torch
    dims = {p.name.split("_seed")[0]: torch.load(p / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"][
        "quantizer.codebook"].shape[1] for p in (tmp_path / "runs").iterdir() if (p / "record.json").exists()}
    assert dims == {"quickstart": 32, "code_dim8": 8}


def test_world_levers_trains_and_scores_each_variant_through_the_cli(tmp_path, monkeypatch):
    pytest.importorskip("ale_py")
    record = _run("world_levers", tmp_path, monkeypatch, "--work", str(tmp_path / "runs"))
    assert [r["variant"] for r in record["results"]] == ["paper", "copy_prior"]
    for name, variant in record["variants"].items():
        assert variant["seeds"] == [0]
        assert variant["next_frame_gain"]["mean"] == pytest.approx(
            variant["next_frame_psnr"]["mean"] - variant["copy_psnr"]["mean"])
    # each variant really trained with its overrides: the copy prior exists in one checkpoint only
    import torch
    keys = {v: torch.load(tmp_path / "runs" / "quick" / v / "seed0" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
            for v in ("paper", "copy_prior")}
    assert any("copy_gate" in k for k in keys["copy_prior"]) and not any("copy_gate" in k for k in keys["paper"])


@pytest.mark.slow
def test_agents_benchmark_runs_every_agent_of_its_table(tmp_path, monkeypatch):
    pytest.importorskip("ale_py")
    record = _run("agents", tmp_path, monkeypatch, "--work", str(tmp_path / "work"), "--fractions", "0", "0.01", "0.9",
                  "--anchor-labels")
    agents = {r["agent"] for r in record["results"]}
    assert {"random", "expert", "oracle"} <= agents and any("lam" in a.lower() for a in agents)
    assert all(math.isfinite(r["return_mean"]) and r["game"] == "pong" for r in record["results"])
    # a labelled_fraction that labels none of the training episodes is skipped, not trained as a
    # second unsupervised LAM
    lam_rows = [r for r in record["results"] if r["lam"]]
    assert lam_rows and all(r["labelled_episodes"][0] > 0 or r["agent"].endswith("fraction 0.0") for r in lam_rows)
    # --anchor-labels: the few-label LAM learnt its encoder from the labelled transitions' true actions
    anchored = [r for r in lam_rows if r["anchored_labels"]]
    assert [r["agent"] for r in anchored] == ["LAM policy, labelled_fraction 0.9, labels anchored"]
    import torch
    checkpoint = torch.load(tmp_path / "work" / "pong" / "lam_0.9_anchored" / "checkpoints" / "last.ckpt",
                            weights_only=False)
    search, data = checkpoint["hyper_parameters"]["search"], checkpoint["datamodule_hyper_parameters"]
    assert search["anchor_labels"] and search["unlabelled_weight"] == 0
    assert data["labelled_share"] == 0.5 and data["labelled_fraction"] == 0.9
    # every policy and the oracle is scored on the expert's own decisions; random and expert are not
    for row in record["results"]:
        assert (row["expert_agreement"] is None) == (row["agent"] in ("random", "expert"))
        assert row["expert_agreement"] is None or 0 <= row["expert_agreement"] <= 1
    # --combine: two runs of the table (here the same one, its returns moved by 2) into mean and std;
    # the quick run's expert ties random, so normalised scores are set here: the oracle at 0.5 and
    # 0.25, every other row at 0.4 and 0.2, 80% of its run's oracle in both
    record = json.loads(json.dumps(record))
    second = json.loads(json.dumps(record))
    for first_row, row in zip(record["results"], second["results"]):
        row["return_mean"] += 2.0
        first_row["normalised"], row["normalised"] = (0.5, 0.25) if row["agent"] == "oracle" else (0.4, 0.2)
    first_path, second_path = tmp_path / "a.json", tmp_path / "b.json"
    first_path.write_text(json.dumps(record))
    second_path.write_text(json.dumps(second))
    module = _module("agents", monkeypatch)
    combined = module.main(["--combine", str(first_path), str(second_path), "--out", str(tmp_path / "c.json")])
    rows = combined["results"]
    assert len(rows) == len(record["results"]) and all(r["runs"] == 2 for r in rows)
    for row, source in zip(rows, record["results"]):
        assert row["return"]["mean"] == pytest.approx(source["return_mean"] + 1.0)
        assert row["return"]["std"] == pytest.approx(math.sqrt(2.0))
        low, high = (0.25, 0.5) if row["agent"] == "oracle" else (0.2, 0.4)
        assert row["normalised"]["values"] == [high, low]
        assert row["normalised"]["mean"] == pytest.approx((low + high) / 2)
        assert row["of_oracle"]["values"] == pytest.approx([1.0, 1.0] if row["agent"] == "oracle" else [0.8, 0.8])
    second["results"] = second["results"][:-1]  # a row that one run lacks is the other run's alone
    second_path.write_text(json.dumps(second))
    rows = module.main(["--combine", str(first_path), str(second_path), "--out", str(tmp_path / "c.json")])["results"]
    assert rows[-1]["agent"] == "expert" and rows[-1]["runs"] == 1 and rows[-1]["sources"] == [str(first_path)]
    assert rows[-1]["return"] == {"mean": record["results"][-1]["return_mean"], "std": 0.0,
                                  "values": [record["results"][-1]["return_mean"]]}


def test_agents_benchmark_reuses_a_finished_fit_and_continues_a_shorter_one(tmp_path, monkeypatch):
    module = _module("agents", monkeypatch)
    calls = []
    monkeypatch.setattr(module, "run_genie_lit", lambda args, threads, log: calls.append(args))
    root = tmp_path / "bc"
    (root / "checkpoints").mkdir(parents=True)
    (root / "done").touch()  # a folder from before done held its steps: reused as asked
    module.fit(["--config", "c.yaml"], root, 2000, 1, [])
    assert calls == []
    module.fit(["--config", "c.yaml"], root, 2000, 1, [])
    assert calls == [] and (root / "done").read_text() == ""
    (root / "done").write_text("2000\n")
    (root / "checkpoints" / "last.ckpt").touch()
    module.fit(["--config", "c.yaml"], root, 8000, 1, [])  # more steps: continued from its last checkpoint
    assert len(calls) == 1 and calls[0][-2:] == ["--ckpt_path", "last"] and "8000" in calls[0]
    assert (root / "done").read_text().strip() == "8000"
    with pytest.raises(SystemExit, match="another --work"):
        module.fit(["--config", "c.yaml"], root, 2000, 1, [])
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    module.fit(["--config", "c.yaml"], fresh, 100, 1, [])  # nothing there yet: a fit from scratch
    assert "--ckpt_path" not in calls[-1] and (fresh / "done").read_text().strip() == "100"


def test_bc_curves_reads_each_policy_fit_of_an_agents_run(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    work = tmp_path / "work"
    fits = {"bc_oracle": "step,val/accuracy,train/loss\n249,0.40,\n260,,1.0\n499,0.70,\n749,0.85,\n"
                         "499,0.72,\n749,0.90,\n999,0.88,\n",  # resumed from step 500: a step's later value wins
            "bc_latent_0.0": "step,val/accuracy\n249,0.30\n499,0.50\n"}
    for name, text in fits.items():
        (work / "pong" / name).mkdir(parents=True)
        (work / "pong" / name / "metrics.csv").write_text(text)
        (work / "pong" / name / "config.yaml").write_text("seed_everything: 3\n")
    (work / "pong" / "lam_0.0").mkdir()  # not a policy
    (work / "pong" / "lam_0.0" / "metrics.csv").write_text("step,val/accuracy\n1,0.9\n")
    module = _module("bc_curves", monkeypatch)
    out = tmp_path / "curves.json"
    record = module.main(["--work", str(work), "--out", str(out)])
    latent, oracle = record["results"]
    assert (latent["policy"], oracle["policy"]) == ("bc_latent_0.0", "bc_oracle") and oracle["seed"] == 3
    assert oracle["steps"] == [249, 499, 749, 999] and oracle["val_accuracy"] == [0.40, 0.72, 0.90, 0.88]
    assert (oracle["final"], oracle["best"], oracle["best_step"], oracle["last_step"]) == (0.88, 0.90, 750, 1000)
    assert oracle["first_step_at_reach"] == 750 and latent["first_step_at_reach"] is None
    assert out.with_suffix(".png").stat().st_size > 0 and json.loads(out.read_text())["results"] == record["results"]
    with pytest.raises(SystemExit, match="no policy fit"):
        module.main(["--work", str(tmp_path / "empty"), "--out", str(out)])


@pytest.mark.slow
def test_shards_benchmark_reports_storage_and_loader_speed(tmp_path, monkeypatch):
    pytest.importorskip("ale_py")
    pytest.importorskip("litdata")
    record = _run("shards", tmp_path, monkeypatch)
    assert [r["shards"] for r in record["results"]["storage"]][0] == "lossless"
    assert all(_positive(r["clips"]) and _positive(r["shard_bytes"]) for r in record["results"]["storage"])
    assert record["results"]["loader"]


@pytest.mark.slow
def test_quality_filter_benchmark_scores_the_junk_and_filters(tmp_path, monkeypatch):
    pytest.importorskip("ale_py")
    pytest.importorskip("litdata")
    record = _run("quality_filter", tmp_path, monkeypatch)
    results = record["results"]
    assert results["auto_labels"]["junk_clips"] > 0 and 0 <= results["kept_fraction"] <= 1
    assert results["unfiltered"]["clips"] >= results["filtered"]["clips"] > 0  # --quick keeps every clip


def test_action_lag_pairs_each_latent_action_with_the_action_shifted_by_k(monkeypatch):
    lag = _module("action_lag", monkeypatch)
    rng = np.random.default_rng(0)
    true = [rng.integers(0, 4, 300), rng.integers(0, 4, 200)]
    latent = [np.concatenate([[0], a[:-1]]) for a in true]  # each code names the previous decision's action
    table = lag.lag_table({"g": latent}, {"g": true}, [-1, 0, 1], num_latent=4)["g"]
    assert table["-1"]["nmi"] == pytest.approx(1.0) and table["-1"]["transitions"] == 498
    assert table["0"]["nmi"] < 0.05 and table["1"]["nmi"] < 0.05
    unknown = [np.where(np.arange(len(a)) % 2 == 0, a, -1) for a in true]  # unknown actions are left out
    assert lag.lag_table({"g": latent}, {"g": unknown}, [0], 4)["g"]["0"]["transitions"] == 250


def test_action_lag_finds_when_a_press_shows_on_the_emulator(monkeypatch):
    pytest.importorskip("ale_py")
    lag = _module("action_lag", monkeypatch)
    tut = lag.emulator_lag("tutankham", states=3, every=4, frames=10, burn_in=20, seed=0)
    assert tut["first_frame"] == 4  # the explorer moves 4 emulator frames after the press
    assert set(tut["delays"]) == {0, 1, 2, 3} and 0 <= tut["suggested_delay"] <= 3
    assert all(0 <= d["own"] <= 1 and 0 <= d["next"] <= 1 for d in tut["delays"].values())


def test_labels_each_game_labels_one_quickstart_episode_of_each_game(monkeypatch):
    from genie_lit.data.record import _episode_splits
    from genie_lit.models.lam_options import labelled_episodes

    # the training episodes of the quickstart's recording (10 per game, seed 0, one val and one test)
    episodes = [f"{game}/ep{n:04d}.mp4" for game in ("battle_zone", "private_eye", "tutankham")
                for n, split in enumerate(_episode_splits(10, 1, 1, 0, game, 0)) if split == "train"]
    assert len(episodes) == 24
    fraction = _module("lam_levers", monkeypatch).VARIANTS["labels_each_game"]["labelled_fraction"]
    chosen = [e for e, keep in zip(episodes, labelled_episodes(episodes, fraction).tolist()) if keep]
    assert chosen == ["battle_zone/ep0004.mp4", "private_eye/ep0006.mp4", "tutankham/ep0002.mp4"]


def test_action_lag_writes_its_emulator_table_where_asked(tmp_path, monkeypatch):
    pytest.importorskip("ale_py")
    lag = _module("action_lag", monkeypatch)
    out = tmp_path / "lag.json"
    lag.main(["--emulator", "--games", "tutankham", "--states", "1", "--every", "2", "--burn-in", "5",
              "--frames", "8", "--out", str(out)])
    (result,) = json.loads(out.read_text())["results"]
    assert result["game"] == "tutankham" and len(result["moved_after_frame"]) == 8
    with pytest.raises(SystemExit):
        lag.main(["--emulator", "--frames", "4", "--out", str(out)])


def test_maskgit_settings_scores_each_setting_over_every_checkpoint(world_ckpt, video_dir, tmp_path, monkeypatch):
    """Each asked setting gets the mean of its checkpoints' figures and their spread (0 for identical
    checkpoints); a malformed setting is refused."""
    module = _module("maskgit_settings", monkeypatch)
    out = tmp_path / "maskgit.json"
    record = module.main(["--ckpt", str(world_ckpt), str(world_ckpt), "--data", str(video_dir), "--clips", "2",
                          "--split", "val", "--threads", "1", "--settings", "1@1.0", "1@0.5", "--out", str(out)])
    assert json.loads(out.read_text())["summary"] == json.loads(json.dumps(record["summary"]))
    assert set(record["summary"]) == {"1@1", "1@0.5"} and len(record["results"]) == 4
    for figures in record["summary"].values():
        assert figures["checkpoints"] == 2 and figures["vs_copy_std"] == pytest.approx(0, abs=1e-9)
        assert figures["vs_copy"] == pytest.approx(figures["next_frame_psnr"] - figures["copy_psnr"])
    with pytest.raises(SystemExit):
        module.main(["--ckpt", str(world_ckpt), "--data", str(video_dir), "--settings", "8-1.0"])


def test_stage_threads_times_each_quickstart_stage_with_its_own_arguments(tmp_path, monkeypatch):
    """The decoder phase is timed as the quickstart runs it: the tokenizer's configs, the decoder
    overlay and the run's tokenizer to start from; the tokenizer stage has neither."""
    module = _module("stage_threads", monkeypatch)
    run = tmp_path / "run"
    tokenizer, decoder = (module.stage_args(stage, run, tmp_path / stage, 10, 1, "32-true")
                          for stage in ("tokenizer", "decoder"))
    start = str(run / "tokenizer" / "checkpoints" / "last.ckpt")
    assert any(a.endswith("decoder.yaml") for a in decoder) and decoder[decoder.index(start) - 1].endswith("init_from")
    assert not any(a.endswith("decoder.yaml") for a in tokenizer) and start not in tokenizer
    assert [a for a in tokenizer if a.endswith(".yaml")] == [a for a in decoder if a.endswith(".yaml")
                                                              and not a.endswith("decoder.yaml")]
