import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")

import lightning.pytorch  # noqa: E402, F401  (its log handler binds to the stderr of the moment it is first imported:
#                          the real one here, not a test's captured stream that is closed after that test)
from videos import write_dataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory) -> Path:
    """Four 64x64 lossless mp4 episodes (24 frames at 15 fps) of a square moved by recorded actions."""
    root = tmp_path_factory.mktemp("videos")
    write_dataset(root, num_files=4, num_frames=24, size=64)
    return root


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """A benchmark's ``main`` sets torch's thread count for its process (``--threads``); run here in
    the test process, it would hold for every later test. Put it back after each test."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


TINY = Path(__file__).parent / "configs"
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def fit_checkpoint(config: Path, tiny: Path, data: Path, root: Path, *extra: str, steps: int = 2) -> Path:
    """Train ``steps`` steps through the real CLI and return ``root/checkpoints/last.ckpt``."""
    from genie_lit.cli import main

    main(["fit", "--config", str(config), "--config", str(tiny), "--data.data_dir", str(data),
          "--trainer.max_steps", str(steps), "--trainer.limit_val_batches", "1", "--trainer.val_check_interval",
          "1", "--trainer.default_root_dir", str(root), "--trainer.logger", "false", *QUIET, *extra])
    return root / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="session")
def tokenizer_ckpt(video_dir, tmp_path_factory) -> Path:
    """A tiny ST-ViViT tokenizer checkpoint written by `genie-lit fit`."""
    return fit_checkpoint(CONFIGS / "tokenizer" / "st_vivit.yaml", TINY / "tiny_tokenizer.yaml", video_dir,
                          tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def world_ckpt(video_dir, tokenizer_ckpt, tmp_path_factory) -> Path:
    """A tiny co-training checkpoint (tokenizer inside): what `Genie.from_checkpoint` loads."""
    return fit_checkpoint(CONFIGS / "genie" / "cotrain.yaml", TINY / "tiny_cotrain.yaml", video_dir,
                          tmp_path_factory.mktemp("world"), "--model.tokenizer_ckpt", str(tokenizer_ckpt))
