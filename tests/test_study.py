"""``genie-lit study``: parsing, chaining and sharing of runs, resume, the table's intervals and the
overlaid curves, on a tiny 2-variant study (pixel vs token LAM input over one shared tokenizer)
trained through the real ``genie-lit fit``; and the same study under 2-process DDP on CPU."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import CONFIGS, TINY
from genie_lit.cli import main
from genie_lit.studies.runner import Runner
from genie_lit.studies.spec import StudyError, load_study, parse_steps
from genie_lit.studies.table import bootstrap, summarise

STUDY = TINY / "study" / "tiny.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------ parsing, no training


def test_shipped_studies_parse_and_only_identical_runs_are_shared():
    tokenizer = load_study(CONFIGS / "studies" / "tokenizer.yaml")
    assert list(tokenizer.variants) == ["st_vivit", "vit", "c_vivit"] and tokenizer.seeds == [0, 1]
    keys = {v: (tokenizer.run_key(v, 0, "tokenizer"), tokenizer.run_key(v, 0, "world")) for v in tokenizer.variants}
    assert len({k for pair in keys.values() for k in pair}) == 6  # each tokenizer variant trains its own world
    assert tokenizer.run_key("vit", 0, "world") != tokenizer.run_key("vit", 1, "world")
    figures = tokenizer.paper["figures"]
    assert [figures[v]["fvd"] for v in ("st_vivit", "vit", "c_vivit")] == [81.4, 114.5, 272.7]
    assert [figures[v]["delta_psnr"] for v in ("st_vivit", "vit", "c_vivit")] == [1.66, 1.39, 1.37]
    assert [figures[v]["memory_gb"] for v in ("st_vivit", "vit", "c_vivit")] == [0.9, 0.3, 1.6]

    lam = load_study(CONFIGS / "studies" / "lam_input.yaml")
    assert lam.run_key("pixels", 0, "tokenizer") == lam.run_key("tokens", 0, "tokenizer")  # one tokenizer per seed
    assert lam.run_key("pixels", 0, "world") != lam.run_key("tokens", 0, "world")
    assert [lam.paper["figures"][v]["delta_psnr"] for v in ("pixels", "tokens")] == [1.91, 1.33]
    assert lam.evaluation["clip_length"] == 16  # FVD on 16 real frames


def test_a_variant_is_only_the_lines_that_differ():
    for path in (CONFIGS / "studies" / "overlays").glob("lam_*.yaml"):
        lines = [x for x in path.read_text().splitlines() if x.strip() and not x.lstrip().startswith("#")]
        assert len(lines) <= 6, path


def test_steps_and_seeds_on_the_command_line_override_the_study():
    study = load_study(STUDY, parse_steps("world=5"), [3, 4])
    assert [p.steps for p in study.phases] == [2, 5] and study.seeds == [3, 4]
    with pytest.raises(StudyError, match="does not have"):
        load_study(STUDY, parse_steps("dynamics=5"))
    with pytest.raises(StudyError, match="PHASE=N"):
        parse_steps("world=many")


@pytest.mark.parametrize("text, message", [
    ("phases: {a: {configs: [], steps: 1}}\nvariants: {x: {}}\nmodel: 1\n", "unknown key"),
    ("phases: {a: {configs: [missing.yaml], steps: 1}}\nvariants: {x: {}}\n", "missing.yaml not found"),
    ("phases: {a: {configs: [], steps: 1, tokenizer_from: b}}\nvariants: {x: {}}\n", "not an earlier phase"),
    ("phases: {a: {configs: [], steps: 0}}\nvariants: {x: {}}\n", "whole number >= 1"),
    ("phases: {a: {configs: [], steps: 1}}\nvariants: {x: {b: {}}}\n", "must map phase names"),
    ("phases: {a: {configs: [], steps: 1}}\nvariants: {x: {}}\nseeds: [1, 1]\n", "distinct integers"),
])
def test_bad_study_files_exit_1_with_one_line_naming_the_problem(tmp_path, capsys, text, message):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    assert main(["study", str(path), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("genie-lit study: error:") and message in err and len(err.splitlines()) == 1


def test_each_variants_tokenizer_feeds_its_own_world_and_trainer_overlays_come_last(tmp_path):
    study = load_study(CONFIGS / "studies" / "tokenizer.yaml", trainer=[str(CONFIGS / "trainer" / "ddp.yaml")])
    runner = Runner(study, tmp_path, "cpu")
    args = runner.fit_args("vit", 1, "world", runner.run_folder("vit", 1, "world"))
    configs = [Path(args[i + 1]).name for i, a in enumerate(args) if a == "--config"]
    assert configs == ["cotrain.yaml", "world.yaml", "world_phase.yaml", "cpu.yaml", "atari_data.yaml", "ddp.yaml"]
    upstream = tmp_path / "runs" / "vit" / "seed1" / "tokenizer" / "checkpoints" / "last.ckpt"
    assert args[args.index("--model.tokenizer_ckpt") + 1] == str(upstream)
    assert args[args.index("--seed_everything") + 1] == "1" and args[args.index("--trainer.max_steps") + 1] == "300"
    assert "--ckpt_path" not in args
    tokenizer = runner.fit_args("vit", 1, "tokenizer", tmp_path / "t")
    assert "vit.yaml" in [Path(a).name for a in tokenizer] and "--model.tokenizer_ckpt" not in tokenizer
    (tmp_path / "t" / "checkpoints").mkdir(parents=True)
    (tmp_path / "t" / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert runner.fit_args("vit", 1, "tokenizer", tmp_path / "t")[-2:] == ["--ckpt_path", "last"]


def test_the_study_eta_counts_the_runs_left_at_the_pace_of_finished_ones(tmp_path):
    study = load_study(STUDY)
    runner = Runner(study, tmp_path, "cpu")
    plan = runner.plan()
    assert runner.eta(plan) == ""  # nothing finished yet: no pace to go by
    for variant, phase, seconds in (("pixels", "tokenizer", 10.0), ("pixels", "world", 30.0)):
        runner.state.runs[study.run_key(variant, 0, phase)] = {"label": f"{variant}/seed0/{phase}", "done": True,
                                                               "seconds": seconds, "folder": str(tmp_path)}
    # left: the tokens world only (its tokenizer is the pixels one, shared and done)
    assert runner.eta(plan) == " (study: about 30 s of training left, evaluations not counted)"


def test_a_run_folder_trained_with_other_settings_is_not_resumed_silently(tmp_path, capsys):
    study = load_study(STUDY)
    folder = tmp_path / "runs" / "pixels" / "seed0" / "tokenizer"
    folder.mkdir(parents=True)
    (folder / "run_key.txt").write_text("0123456789abcdef\n")  # e.g. before the study file was edited
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ep0.mp4").write_bytes(b"")  # the error comes before any video is read
    assert main(["study", str(STUDY), "--out", str(tmp_path), "--data", str(tmp_path / "data"), "--device",
                 "cpu"]) == 1
    err = capsys.readouterr().err
    assert f"{folder} holds a run of pixels/seed0/tokenizer with other settings" in err
    assert study.run_key("pixels", 0, "tokenizer") != load_study(STUDY, {"tokenizer": 3}).run_key("pixels", 0,
                                                                                                  "tokenizer")


# ---------------------------------------------------------------------------- intervals, no training


def test_two_level_bootstrap_covers_seed_and_clip_noise():
    rng = np.random.default_rng(0)
    constant = [np.full(8, 1.5), np.full(8, 1.5)]
    assert bootstrap(constant, lambda s: float(np.mean([x.mean() for x in s])), 200, rng) == (1.5, 1.5)
    clips_only = [np.array([0.0, 1.0] * 4), np.array([0.0, 1.0] * 4)]
    seeds_apart = [np.full(8, 0.0), np.full(8, 1.0)]
    stat = lambda s: float(np.mean([x.mean() for x in s]))  # noqa: E731
    low, high = bootstrap(clips_only, stat, 500, rng)
    assert low < 0.5 < high and high - low < 0.7
    low, high = bootstrap(seeds_apart, stat, 500, rng)
    assert (low, high) == (0.0, 1.0)  # the spread between seeds is in the interval, not only the clips'


def _fake_results(tmp_path, shift):
    results = {}
    for variant, offset in (("a", 0.0), ("b", shift)):
        results[variant] = {}
        for seed in (0, 1):
            values = np.linspace(1.0, 2.0, 10) + offset + 0.01 * seed
            evaluation = {"rollouts": {"delta_psnr_per_clip": values.tolist()}, "tokenizer": {"psnr": 25.0 + seed},
                          "latent_actions": {"nmi": 0.1}}
            measures = {"parameters_trainable": 1000, "peak_memory_bytes": 2e9, "memory_kind": "cpu_peak_rss"}
            results[variant][seed] = {"phases": {"world": {"measures": measures, "seconds": 60.0}},
                                      "eval": evaluation, "eval_folder": str(tmp_path)}
    return results


def test_table_says_whether_a_difference_is_outside_the_noise(tmp_path):
    settings = {"bootstrap": 300, "fvd_bootstrap": 10, "t": 4}
    apart = summarise(_fake_results(tmp_path, 1.0), settings)
    assert apart["b"]["delta_psnr_vs_reference"]["separated"] is True
    assert apart["b"]["delta_psnr_vs_reference"]["mean"] == pytest.approx(1.0)
    low, high = apart["a"]["delta_psnr"]["ci95"]
    assert low <= apart["a"]["delta_psnr"]["mean"] <= high and apart["a"]["delta_psnr"]["clips"] == 20
    assert apart["a"]["tokenizer_psnr"]["mean"] == 25.5 and apart["a"]["phases"]["world"]["peak_memory_gb"] == 2.0
    close = summarise(_fake_results(tmp_path, 0.0), settings)
    assert close["b"]["delta_psnr_vs_reference"]["separated"] is False


def test_curves_overlays_runs_with_a_band_per_label(tmp_path, capsys):
    from genie_lit.curves import band
    from test_curves import write_metrics

    assert band([[(0, 1.0), (10, 2.0)], [(0, 3.0), (10, 4.0), (20, 9.0)]]) == ([0, 10], [2.0, 3.0], [1.0, 2.0],
                                                                                  [3.0, 4.0])
    for name, scale in (("a0", 1.0), ("a1", 1.2), ("b0", 2.0)):
        write_metrics(tmp_path / name, [{"step": s, "val/delta_psnr": scale * s, "val/fvd_random_i3d": 100 - s}
                                        for s in (10, 20, 30)])
    out = tmp_path / "overlay.png"
    assert main(["curves", f"st={tmp_path / 'a0'}", f"st={tmp_path / 'a1'}", f"vit={tmp_path / 'b0'}",
                 "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    write_metrics(tmp_path / "c", [{"step": 1, "train/loss": 1.0}])
    assert main(["curves", f"x={tmp_path / 'c'}", f"y={tmp_path / 'a0'}", "--metrics", "val/nothing",
                 "--out", str(out)]) == 1
    assert "none of the runs logged val/nothing" in capsys.readouterr().err


# ------------------------------------------------------------------------- a tiny study, trained


@pytest.fixture(scope="module")
def study_data(tmp_path_factory) -> Path:
    """Four 64x64 episodes of 32 frames: the validation episode gives two 12-frame evaluation clips."""
    from videos import write_dataset

    root = tmp_path_factory.mktemp("study_data")
    write_dataset(root, num_files=4, num_frames=32, size=64)
    return root


@pytest.fixture(scope="module")
def tiny_study(study_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study")
    assert main(["study", str(STUDY), "--out", str(out), "--data", str(study_data), "--device", "cpu",
                 "--quiet"]) == 0
    return out


def _figures(out: Path) -> dict:
    variants = json.loads((out / "table.json").read_text())["variants"]
    return {v: (r["delta_psnr"]["mean"], r["tokenizer_psnr"]["mean"], r["action_nmi"]["mean"],
                r["phases"]["world"]["parameters"]) for v, r in variants.items()}


@pytest.mark.slow
def test_tiny_study_writes_the_table_curves_and_one_log_folder_per_variant_and_seed(tiny_study):
    out = tiny_study
    table = json.loads((out / "table.json").read_text())
    assert list(table["variants"]) == ["pixels", "tokens"]
    for variant, row in table["variants"].items():
        evaluation = json.loads((out / "eval" / variant / "seed0" / "eval.json").read_text())
        assert evaluation["clip_length"] == 12 and row["delta_psnr"]["clips"] == evaluation["clips"] == 2
        assert row["delta_psnr"]["mean"] == pytest.approx(evaluation["rollouts"]["delta_psnr"])
        assert row["fvd"]["name"] == "fvd_random_i3d_32px" and row["fvd"]["mean"] == evaluation["fvd"]
        assert row["tokenizer_psnr"]["mean"] == evaluation["tokenizer"]["psnr"]
        assert row["action_nmi"]["mean"] == evaluation["latent_actions"]["nmi"]
        assert row["phases"]["tokenizer"]["parameters"] > 0 and row["phases"]["world"]["peak_memory_gb"] > 0
    # the token-input LAM has another encoder input, so another parameter count; the tokenizer run is shared
    assert table["variants"]["pixels"]["phases"]["world"]["parameters"] != \
        table["variants"]["tokens"]["phases"]["world"]["parameters"]
    assert (out / "runs" / "pixels" / "seed0" / "tokenizer" / "checkpoints" / "last.ckpt").is_file()
    assert not (out / "runs" / "tokens" / "seed0" / "tokenizer").exists()
    for variant in ("pixels", "tokens"):
        assert list((out / "runs" / variant / "seed0" / "world").glob("events.out.tfevents.*"))
    text = (out / "table.md").read_text()
    assert "| pixels |" in text and "1.91" in text and "1.33" in text and "reference" in text
    assert (out / "curves.png").read_bytes()[:8] == PNG_MAGIC


class FakeFit:
    """Stands in for the ``genie-lit fit`` process of a run: records its arguments and writes the
    run's measures as if it had trained ``steps_done`` steps (Lightning's own resume from
    ``--ckpt_path last`` is tested in test_resume.py)."""

    def __init__(self, steps_done: int) -> None:
        self.steps_done, self.commands = steps_done, []

    def __call__(self, command, **kwargs):
        import subprocess

        self.commands.append(command)
        root = Path(command[command.index("--trainer.default_root_dir") + 1])
        measures = json.loads((root / "run_measures.json").read_text())
        (root / "run_measures.json").write_text(json.dumps({**measures, "global_step": self.steps_done}))
        return subprocess.CompletedProcess(command, 0)


@pytest.mark.slow
def test_study_again_skips_finished_runs_and_resumes_an_unfinished_one(tiny_study, study_data, capsys, monkeypatch):
    out = tiny_study
    before = _figures(out)
    state = json.loads((out / "study.json").read_text())
    (key,) = [k for k, v in state["runs"].items() if v["label"] == "tokens/seed0/world"]
    state["runs"][key]["done"] = False  # as if the study had been killed during this run
    del state["evaluations"]["tokens/seed0"]
    (out / "study.json").write_text(json.dumps(state))
    args = ["study", str(STUDY), "--out", str(out), "--data", str(study_data), "--device", "cpu"]

    killed = FakeFit(steps_done=1)  # the fit stops before its last step (Ctrl-C)
    monkeypatch.setattr("genie_lit.studies.runner.subprocess.run", killed)
    assert main(args) == 130
    assert len(killed.commands) == 1 and not json.loads((out / "study.json").read_text())["runs"][key]["done"]

    capsys.readouterr()
    finished = FakeFit(steps_done=2)
    monkeypatch.setattr("genie_lit.studies.runner.subprocess.run", finished)
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "pixels/seed0/tokenizer: done, skipped" in printed and "pixels/seed0/world: done, skipped" in printed
    assert "tokens/seed0/tokenizer: done, skipped (shared with pixels/seed0/tokenizer)" in printed
    assert "tokens/seed0/world: training 2 steps" in printed and "(resuming from last.ckpt)" in printed
    (command,) = finished.commands  # only the unfinished run, from its last checkpoint
    assert command[command.index("--trainer.default_root_dir") + 1] == str(out / "runs" / "tokens" / "seed0" / "world")
    assert command[-2:] == ["--ckpt_path", "last"] and command[1:4] == ["-m", "genie_lit", "fit"]
    assert json.loads((out / "study.json").read_text())["runs"][key]["done"]
    assert _figures(out) == before  # the evaluation was redone on the same checkpoint


@pytest.mark.slow
def test_a_two_process_ddp_study_gives_the_single_process_table(tiny_study, study_data, tmp_path):
    """The same study with --trainer configs/trainer/ddp.yaml on 2 CPU processes (gloo): every run
    is a 2-process fit, evaluation runs once, and the table equals the single-process one (the
    tiny study trains at learning rate 0, so both start from and keep the same seeded weights).
    Its pixel-input variant only: the token-input one trains the same way."""
    import yaml

    # the tiny study's pixel variant alone (two 2-process fits instead of three), its configs by full path
    study = yaml.safe_load(STUDY.read_text())
    for phase in study["phases"].values():
        phase["configs"] = [str((STUDY.parent / c).resolve()) for c in phase["configs"]]
    study["variants"] = {"pixels": study["variants"]["pixels"]}
    study["paper"]["figures"] = {"pixels": study["paper"]["figures"]["pixels"]}
    pixels = tmp_path / "pixels.yaml"
    pixels.write_text(yaml.safe_dump(study))
    env = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        assert main(["study", str(pixels), "--out", str(tmp_path / "out"), "--data", str(study_data), "--device", "cpu",
                     "--trainer", str(CONFIGS / "trainer" / "ddp.yaml"), "--trainer",
                     str(TINY / "study" / "ddp_cpu.yaml"), "--quiet"]) == 0
    finally:
        if env is None:
            os.environ.pop("OMP_NUM_THREADS")
        else:
            os.environ["OMP_NUM_THREADS"] = env
    measures = json.loads((tmp_path / "out" / "runs" / "pixels" / "seed0" / "world" / "run_measures.json").read_text())
    assert measures["world_size"] == 2
    ddp, alone = _figures(tmp_path / "out"), _figures(tiny_study)
    assert list(ddp) == ["pixels"] and ddp["pixels"] == pytest.approx(alone["pixels"], rel=1e-6, abs=1e-6)
