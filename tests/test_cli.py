"""The real `genie-lit` entry point on tiny real mp4 files."""

import subprocess
import sys

import pytest
import yaml

from conftest import CONFIGS
from genie_lit.cli import main

BASE_TOKENIZER = CONFIGS / "tokenizer" / "st_vivit.yaml"
# the base, and each variant overlay layered on it
TOKENIZERS = [[BASE_TOKENIZER], *([BASE_TOKENIZER, CONFIGS / "tokenizer" / f"{v}.yaml"] for v in ("vit", "c_vivit"))]
FAST = ["--config", str(CONFIGS.parent / "tests" / "configs" / "checkpoint_only.yaml")]
SMALL = [*FAST, "--data.clip_length", "4", "--data.batch_size", "2", "--data.num_workers", "0", "--data.val_fraction", "0.25"]


@pytest.mark.parametrize("configs", TOKENIZERS, ids=lambda c: c[-1].stem)
def test_fit_fast_dev_run_for_every_tokenizer(configs, video_dir, tmp_path):
    layered = [arg for config in configs for arg in ("--config", str(config))]
    main(["fit", *layered, "--data.data_dir", str(video_dir), *SMALL,
          "--trainer.fast_dev_run", "1", "--trainer.default_root_dir", str(tmp_path)])


def test_fit_writes_checkpoint_and_a_config_that_reproduces_the_run(video_dir, tmp_path):
    config = CONFIGS / "tokenizer" / "st_vivit.yaml"
    main(["fit", "--config", str(config), "--data.data_dir", str(video_dir), *SMALL,
          "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1", "--trainer.val_check_interval", "1",
          "--trainer.default_root_dir", str(tmp_path)])
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
    saved = tmp_path / "config.yaml"
    assert saved.exists() and (tmp_path / "metrics.csv").exists()
    assert yaml.safe_load(saved.read_text())["model"]["class_path"] == "genie_lit.models.VideoTokenizer"
    # the saved config alone reproduces the run (into another folder)
    main(["fit", "--config", str(saved), "--trainer.default_root_dir", str(tmp_path / "again")])
    assert (tmp_path / "again" / "checkpoints" / "last.ckpt").exists()


def test_print_config(video_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(BASE_TOKENIZER), "--data.data_dir", str(video_dir), "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["data"]["init_args"]["data_dir"] == str(video_dir)


def test_unknown_class_gives_jsonargparse_error(video_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(BASE_TOKENIZER), "--data.data_dir", str(video_dir),
              "--model.init_args.encoder.class_path", "genie_lit.nn.NoSuchTransformer"])
    assert exit_info.value.code == 2
    assert "NoSuchTransformer" in capsys.readouterr().err


def test_folder_without_video_names_folder_and_extensions(tmp_path):
    (tmp_path / "notes.txt").write_text("no video here")
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}.*\.mp4.*\.mkv"):
        main(["fit", "--config", str(BASE_TOKENIZER), "--data.data_dir", str(tmp_path), "--trainer.fast_dev_run", "1",
              "--trainer.default_root_dir", str(tmp_path)])


def test_console_script_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "genie_lit", "--help"], capture_output=True, text=True, check=True)
    assert "fit" in out.stdout and "record" in out.stdout


@pytest.mark.parametrize("component", ["lam/pixel", "lam/pixel+lam/tokens", "dynamics/maskgit"])
def test_fit_fast_dev_run_for_the_latent_action_and_dynamics_configs(component, video_dir, tokenizer_ckpt, tmp_path):
    configs = sum((["--config", str(CONFIGS / f"{name}.yaml")] for name in component.split("+")), [])
    extra = {
        "lam/pixel": [],
        "lam/pixel+lam/tokens": ["--model.init_args.tokenizer_ckpt", str(tokenizer_ckpt), "--model.init_args.token_dim", "8"],
        "dynamics/maskgit": ["--data.tokenizer_ckpt", str(tokenizer_ckpt), "--data.actions", "recorded",
                             "--model.init_args.vocab_size", "64", "--data.cache_dir", str(tmp_path / "tokens")],
    }[component]
    data = ["--data.clip_length", "4", "--data.batch_size", "2", "--data.num_workers", "0", "--data.val_fraction", "0.25"]
    main(["fit", *configs, *FAST, "--data.data_dir", str(video_dir), *data, *extra,
          "--trainer.fast_dev_run", "1", "--trainer.default_root_dir", str(tmp_path)])


def test_training_goes_on_past_corrupt_files_with_one_summary_warning(video_dir, tmp_path):
    import shutil
    import warnings

    from videos import truncate_file

    root = tmp_path / "messy"
    shutil.copytree(video_dir, root)
    truncate_file(shutil.copy(next(root.glob("*.mp4")), root / "truncated.mp4"))
    (root / "notes.mp4").write_text("a text file with a video extension\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(["fit", "--config", str(CONFIGS / "tokenizer" / "st_vivit.yaml"), *SMALL, "--data.data_dir", str(root),
              "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1", "--trainer.val_check_interval", "1",
              "--trainer.default_root_dir", str(tmp_path / "run")])
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").exists()
    summaries = [str(w.message) for w in caught if "skipped" in str(w.message) and "unreadable" in str(w.message)]
    assert len(summaries) == 1 and "skipped 2 of" in summaries[0], summaries
