import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")

from videos import write_dataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory) -> Path:
    """Four 64x64 lossless mp4 episodes (24 frames at 15 fps) of a square moved by recorded actions."""
    root = tmp_path_factory.mktemp("videos")
    write_dataset(root, num_files=4, num_frames=24, size=64)
    return root
