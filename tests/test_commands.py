"""Every `genie-lit` command shares one layout: --help works and is fast (no torch, no Lightning),
--version, and one clear line with exit code 1 for a runtime error."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
import torch

from conftest import CONFIGS, QUIET, TINY
from genie_lit import __version__
from genie_lit.cli import COMMANDS, main

HAND_WRITTEN = sorted(COMMANDS)
SUBCOMMAND = {"record": ["atari"], "agent": ["evaluate"]}  # their options are on their sub-commands


@pytest.mark.parametrize("command", [*HAND_WRITTEN, "fit", "validate", "test", "predict"])
def test_help_of_every_command_works(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, *SUBCOMMAND.get(command, []), "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ") and len(out.splitlines()) > 5


def test_help_of_the_hand_written_commands_loads_neither_torch_nor_lightning():
    child = ("import contextlib, io, json, sys\n"
             "from genie_lit.cli import main\n"
             f"for command in {HAND_WRITTEN!r}:\n"
             "    with contextlib.redirect_stdout(io.StringIO()):\n"
             "        try:\n"
             "            main([command, '--help'])\n"
             "        except SystemExit:\n"
             "            pass\n"
             "print(json.dumps(sorted(m for m in ('torch', 'lightning') if m in sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize("command", HAND_WRITTEN)
def test_every_command_has_the_shared_flags(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, *SUBCOMMAND.get(command, []), "--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"genie-lit {__version__}"
    with pytest.raises(SystemExit):
        main([command, *SUBCOMMAND.get(command, []), "--help"])
    text = capsys.readouterr().out
    assert "--quiet" in text
    if command in ("play", "evaluate", "quickstart", "agent"):  # the commands that run a model
        assert "--device {auto,cpu,cuda}" in text


def test_an_unknown_device_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--ckpt", "x.ckpt", "--device", "tpu"])
    assert exit_info.value.code == 2
    assert "invalid device 'tpu'" in capsys.readouterr().err


def test_lightning_commands_do_not_warn_about_their_args(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["genie-lit", "fit", "--help"])  # args given *and* a command line
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SystemExit):
            main(["fit", "--help"])
    assert not [w for w in caught if "args parameter" in str(w.message)]


def test_a_world_checkpoint_as_tokenizer_is_one_line_without_a_config_dump(world_ckpt, video_dir, tmp_path, capsys):
    code = main(["fit", "--config", str(CONFIGS / "genie" / "cotrain.yaml"), "--config", str(TINY / "tiny_cotrain.yaml"),
                 "--data.data_dir", str(video_dir), "--model.tokenizer_ckpt", str(world_ckpt),
                 "--trainer.fast_dev_run", "1", "--trainer.default_root_dir", str(tmp_path), *QUIET])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert "GenieCoTraining, but a VideoTokenizer is needed" in err and "Namespace(" not in err


def test_a_tokenizer_that_does_not_fit_the_configs_is_one_line(tokenizer_ckpt, video_dir, tmp_path, capsys):
    code = main(["fit", "--config", str(CONFIGS / "genie" / "cotrain.yaml"), "--config", str(TINY / "tiny_cotrain.yaml"),
                 "--data.data_dir", str(video_dir), "--model.tokenizer_ckpt", str(tokenizer_ckpt),
                 "--model.dynamics.init_args.vocab_size", "99", "--trainer.fast_dev_run", "1",
                 "--trainer.default_root_dir", str(tmp_path), *QUIET])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "vocab_size=99" in err and "Union" not in err, err


def test_a_pickled_checkpoint_is_refused_with_our_line_alone(tmp_path, capsys):
    pickled = tmp_path / "pickled.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"anything": object.__new__(warnings.WarningMessage)}}, pickled)
    assert main(["evaluate", "--ckpt", str(pickled), "--no-fvd", "--out", str(tmp_path / "eval")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pickled Python objects" in err and "Re-train with the CLI." in err
    assert "WeightsUnpickler" not in err and "weights_only" not in err
