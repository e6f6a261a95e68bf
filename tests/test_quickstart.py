"""``genie-lit quickstart``: record -> tokenizer -> decoder -> world -> evaluate -> report, with tiny
models; a second run skips finished stages and resumes an unfinished one from its last checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TINY
from genie_lit.cli import main
from genie_lit.media import probe
from genie_lit.quickstart.pipeline import STAGES, fit_args, max_time

pytest.importorskip("ale_py")

STEPS = TINY / "quickstart_steps.yaml"
TINY_ARGS = ["--games", "pong,breakout", "--episodes", "3", "--steps", "40", "--tokenizer-config",
             str(TINY / "tiny_tokenizer.yaml"), "--tokenizer-config", str(STEPS), "--world-config",
             str(TINY / "tiny_cotrain.yaml"), "--world-config", str(STEPS), "--accelerator", "cpu", "--eval-clips", "2",
             "--no-fvd", "--tokenizer-steps", "3", "--decoder-steps", "3", "--world-steps", "3"]


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("quickstart")
    assert main(["quickstart", "--out", str(out), *TINY_ARGS]) == 0
    return out


@pytest.mark.slow
def test_quickstart_writes_every_stage_and_the_report(quickstart_run):
    out = quickstart_run
    state = json.loads((out / "quickstart.json").read_text())
    assert all(state["stages"][s]["done"] for s in STAGES)
    assert state["stages"]["record"]["recorded"] is True
    assert [state["stages"][s]["global_step"] for s in ("tokenizer", "decoder", "world")] == [3, 3, 3]
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    splits = {e["split"] for e in manifest["episodes"]}
    assert splits == {"train", "val", "test"}  # one held-out test episode per game for the evaluation
    for stage in ("tokenizer", "decoder", "world"):
        assert (out / stage / "checkpoints" / "last.ckpt").is_file() and (out / stage / "metrics.csv").is_file()
    # the world trained over the decoder phase's tokenizer: the first phase's tokens, its own decoder
    import torch

    weights = {stage: torch.load(out / stage / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
               for stage in ("tokenizer", "decoder", "world")}
    for name, value in weights["decoder"].items():
        if name.startswith(("encoder.", "quantizer.", "head.", "decoder.")):
            assert torch.equal(weights["world"]["tokenizer." + name], value), name
            assert torch.equal(weights["tokenizer"][name], value) == name.startswith(("encoder.", "quantizer.")), name
    results = json.loads((out / "eval" / "eval.json").read_text())
    assert results["split"] == "test" and results["kind"] == "world"
    report = json.loads((out / "report.json").read_text())
    figures = report["figures"]
    for key in ("tokenizer_psnr", "delta_psnr", "action_nmi", "action_nmi_chance", "few_shot_chance"):
        assert key in figures
    assert figures["action_nmi"] == results["latent_actions"]["mean"]["nmi"]
    assert figures["rollout_recognisable_frames"] == results["horizon"]["recognisable_frames"]
    text = (out / "report.md").read_text()
    assert "latent action NMI" in text and "Wall time per stage" in text and "Δ4PSNR" in text
    assert "rollout frames recognisable" in text
    # one video per game: the real continuation and one panel per latent action, 16 frames
    assert sorted(Path(v).name for v in report["videos"]) == ["breakout_prompt0_actions.mp4",
                                                              "pong_prompt0_actions.mp4"]
    assert probe(out / report["videos"][0]).num_frames == 16


@pytest.mark.slow
def test_quickstart_again_skips_finished_stages_and_resumes_the_unfinished(quickstart_run, capsys):
    out = quickstart_run
    tokenizer_ckpt = out / "tokenizer" / "checkpoints" / "last.ckpt"
    before = tokenizer_ckpt.stat().st_mtime_ns
    state = json.loads((out / "quickstart.json").read_text())
    state["stages"]["world"]["done"] = False  # as if the run had been killed during the world stage
    del state["stages"]["evaluate"]
    (out / "quickstart.json").write_text(json.dumps(state))
    capsys.readouterr()
    assert main(["quickstart", "--out", str(out), *TINY_ARGS]) == 0
    printed = capsys.readouterr().out
    assert "plan: 3 tokenizer steps, 3 of its decoder alone, then 3 world steps" in printed
    assert "decoder: done" in printed
    assert "tokenizer: done" in printed and "skipped" in printed
    assert "world: training" in printed and "(resuming)" in printed
    assert tokenizer_ckpt.stat().st_mtime_ns == before
    state = json.loads((out / "quickstart.json").read_text())
    assert state["stages"]["world"]["done"] and state["stages"]["evaluate"]["done"]


@pytest.mark.slow
def test_the_decoder_phase_benchmark_scores_each_world_with_either_tokenizer(quickstart_run, tmp_path, monkeypatch):
    """benchmarks/decoder_phase.py: the same world with the decoder phase's tokenizer and with the first
    phase's put back; the latent actions, read from pixels, are the same in both."""
    import torch

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import decoder_phase

    record = decoder_phase.main(["--runs", str(quickstart_run), "--clips", "2", "--out", str(tmp_path / "d.json")])
    (row,) = record["results"]
    assert row["decoder_steps"] == 3 and json.loads((tmp_path / "d.json").read_text())["results"] == [row]
    mine, first = row["decoder_phase"], row["first_phase"]
    assert mine["action_nmi"] == first["action_nmi"] and mine["next_frame_psnr_copy"] == first["next_frame_psnr_copy"]
    assert mine["tokenizer_psnr"] != first["tokenizer_psnr"]
    assert row["difference"]["tokenizer_psnr"] == pytest.approx(mine["tokenizer_psnr"] - first["tokenizer_psnr"])
    swapped = torch.load(first["checkpoint"], weights_only=True)["state_dict"]
    tokenizer = torch.load(quickstart_run / "tokenizer" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    world = torch.load(mine["checkpoint"], weights_only=True)["state_dict"]
    assert all(torch.equal(swapped[f"tokenizer.{k}"], v) for k, v in tokenizer.items())
    assert all(torch.equal(swapped[k], v) for k, v in world.items() if not k.startswith("tokenizer."))


def test_quickstart_bad_settings_exit_2_and_missing_files_exit_1(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["quickstart", "--out", str(tmp_path), "--minutes", "0"])
    assert exit_info.value.code == 2
    assert "--minutes must be > 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["quickstart", "--out", str(tmp_path), "--world-steps", "0"])
    assert exit_info.value.code == 2
    assert main(["quickstart", "--out", str(tmp_path), "--world-config", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml does not exist" in capsys.readouterr().err


def test_quickstart_refuses_a_state_file_it_did_not_write(tmp_path, capsys):
    (tmp_path / "quickstart.json").write_text('{"format": "something else"}')
    assert main(["quickstart", "--out", str(tmp_path), "--device", "cpu"]) == 1
    assert "not written by this version" in capsys.readouterr().err


def test_a_recording_killed_midway_is_recorded_again(tmp_path, monkeypatch):
    """Videos that a killed record stage left behind are not mistaken for the user's own data."""
    from genie_lit.quickstart import pipeline

    (tmp_path / "data" / "pong").mkdir(parents=True)
    (tmp_path / "data" / "pong" / "ep0000.mp4").write_bytes(b"partial")
    state = pipeline.QuickstartState.load(tmp_path)
    state.add_time("record", 1.0, False, recording=True)
    calls = []
    monkeypatch.setattr("genie_lit.data.record.record_atari", lambda out, games, **kw: calls.append(kw["mode"]))
    monkeypatch.setattr("genie_lit.quickstart.train_stage", lambda args: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["quickstart", "--out", str(tmp_path), "--accelerator", "cpu"]) == 130
    assert calls == ["overwrite"]
    assert json.loads((tmp_path / "quickstart.json").read_text())["stages"]["record"]["done"]


def test_a_world_started_without_the_decoder_phase_goes_on_over_the_first_tokenizer(tmp_path, monkeypatch, capsys):
    """The decoder phase runs before the world; a world already started without it (``--decoder-steps
    0``, or an earlier version) is not switched to a new tokenizer halfway: the phase is skipped, said."""
    from genie_lit.quickstart import pipeline

    trained = []

    def train(args):
        trained.append(args)
        raise KeyboardInterrupt  # stop after the first stage that trains

    monkeypatch.setattr("genie_lit.quickstart.train_stage", train)
    for started in (False, True):
        out = tmp_path / f"started_{started}"
        state = pipeline.QuickstartState.load(out)
        for stage in ("record", "tokenizer"):
            state.add_time(stage, 1.0, True)
        if started:
            (out / "world" / "checkpoints").mkdir(parents=True)
            (out / "world" / "checkpoints" / "last.ckpt").touch()
        assert main(["quickstart", "--out", str(out), "--accelerator", "cpu", "--decoder-steps", "5"]) == 130
    first, second = trained
    tokenizer = str(tmp_path / "started_False" / "tokenizer" / "checkpoints" / "last.ckpt")
    assert first[first.index("--model.init_args.init_from") + 1] == tokenizer and "5" in first
    assert second[second.index("--model.tokenizer_ckpt") + 1] == str(
        tmp_path / "started_True" / "tokenizer" / "checkpoints" / "last.ckpt")
    assert "decoder: skipped: the world was started over the tokenizer without it" in capsys.readouterr().out


def test_the_screen_delay_reaches_the_recorder_and_a_bad_one_is_a_usage_error(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr("genie_lit.data.record.record_atari", lambda out, games, **kw: calls.append(kw))
    monkeypatch.setattr("genie_lit.quickstart.train_stage", lambda args: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["quickstart", "--out", str(tmp_path / "a"), "--device", "cpu", "--screen-delay", "2"]) == 130
    assert calls[0]["screen_delay"] == 2
    with pytest.raises(SystemExit) as exit_:
        main(["quickstart", "--out", str(tmp_path / "b"), "--device", "cpu", "--screen-delay", "4"])
    assert exit_.value.code == 2
    assert "--screen-delay in 0..3" in capsys.readouterr().err


def test_native_bf16_is_read_from_the_cpu_flags_and_auto_precision_follows_it(tmp_path, monkeypatch):
    """An AVX-512 CPU without ``avx512_bf16``/``amx_bf16`` (where oneDNN emulates bf16) is not
    native; ``--precision auto`` then trains the world in 32-bit, and in bf16 on a GPU or a CPU
    that has them; an explicit choice is kept."""
    import genie_lit.quickstart as quickstart

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512bw avx512_vnni\n")
    assert not quickstart.cpu_has_bf16(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n")
    assert quickstart.cpu_has_bf16(cpuinfo)
    assert not quickstart.cpu_has_bf16(tmp_path / "absent")
    assert quickstart.cpuinfo_value("model name", tmp_path / "absent") is None
    for native, expected in ((False, "32-true"), (True, "bf16-mixed")):
        monkeypatch.setattr(quickstart, "cpu_has_bf16", lambda native=native: native)
        assert quickstart.world_precision("auto", "cpu")[0] == expected
        assert quickstart.world_precision("auto", "gpu")[0] == "bf16-mixed"
        assert quickstart.world_precision("bf16", "cpu")[0] == "bf16-mixed"
        assert quickstart.world_precision("32", "gpu")[0] == "32-true"


def test_max_time_is_lightning_format():
    assert max_time(3600 * 25 + 61) == "01:01:01:01"
    assert max_time(5) == "00:00:01:00"  # at least a minute


def test_fit_args_layer_the_configs_and_resume_from_the_last_checkpoint(tmp_path):
    args = fit_args(["base.yaml"], ["extra.yaml"], tmp_path / "data", tmp_path / "run", 40, None, "cpu", ["--x", "1"])
    configs = [args[i + 1] for i, a in enumerate(args) if a == "--config"]
    assert configs[0] == "base.yaml" and configs[-1] == "extra.yaml"
    assert any(c.endswith("trainer/cpu.yaml") for c in configs) and "--ckpt_path" not in args
    assert args[args.index("--trainer.max_steps") + 1] == "40" and "--trainer.max_time" not in args
    assert any(a.startswith("--trainer.callbacks+=") and "StepProgress" in a for a in args)
    capped = fit_args(["base.yaml"], [], tmp_path / "data", tmp_path / "run", 40, 90, "cpu", [])
    assert capped[capped.index("--trainer.max_time") + 1] == "00:00:01:30"
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "last.ckpt").touch()
    gpu = fit_args(["base.yaml"], [], tmp_path / "data", tmp_path / "run", 40, None, "gpu", [])
    assert gpu[-2:] == ["--ckpt_path", "last"]
    assert gpu[gpu.index("--trainer.devices") + 1] == "1"
    assert not any(a.endswith("trainer/cpu.yaml") for a in gpu)
