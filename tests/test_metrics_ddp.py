"""FVD and ΔtPSNR synchronised across 2 CPU processes (gloo) equal one process over all the data."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor

from features import MeanColourFeatures
from genie_lit.metrics import DeltaPSNR, FrechetVideoDistance

WORLD_SIZE = 2
TIMEOUT_S = 180


def _data() -> dict[str, Tensor]:
    """11 real and 9 generated clips (odd counts: the ranks get unequal shares)."""
    generator = torch.Generator().manual_seed(0)
    real = torch.rand(11, 5, 3, 8, 8, generator=generator)
    return {
        "real": real,
        "fake": (torch.rand(9, 5, 3, 8, 8, generator=generator) * 0.8 + 0.1),
        "inferred": (real + 0.05 * torch.randn(real.shape, generator=generator)).clamp(0, 1),
        "random": (real + 0.2 * torch.randn(real.shape, generator=generator)).clamp(0, 1),
    }


def _evaluate(data: dict[str, Tensor], rank: int = 0, world_size: int = 1) -> dict[str, Tensor]:
    """Each rank takes every ``world_size``-th clip from ``rank`` on: disjoint shares covering the data."""
    share = {key: value[rank::world_size] for key, value in data.items()}
    fvd = FrechetVideoDistance(feature_extractor=MeanColourFeatures())
    fvd.update(share["real"], real=True)
    fvd.update(share["fake"], real=False)
    delta = DeltaPSNR(t=4)
    delta.update(share["real"], share["inferred"], share["random"])
    return {"fvd": fvd.compute(), **delta.compute()}


def _worker(rank: int, init_file: str, out_dir: str, data: dict[str, Tensor]) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE,
                            timeout=timedelta(seconds=TIMEOUT_S))
    try:
        torch.save(_evaluate(data, rank, WORLD_SIZE), Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_synced_fvd_and_delta_psnr_equal_single_process(tmp_path):
    data = _data()
    context = mp.start_processes(_worker, args=(str(tmp_path / "store"), str(tmp_path), data), nprocs=WORLD_SIZE,
                                 join=False, start_method="spawn")
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not context.join(timeout=2):
            if time.monotonic() > deadline:
                pytest.fail(f"DDP workers did not finish within {TIMEOUT_S} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()

    expected = _evaluate(data)
    for rank in range(WORLD_SIZE):
        synced = torch.load(tmp_path / f"rank{rank}.pt")
        assert synced.keys() == expected.keys()
        for key, value in expected.items():
            torch.testing.assert_close(synced[key], value, rtol=1e-6, atol=1e-9, msg=f"rank {rank}: {key}")
    # the single-process shares alone differ, so the equality above really comes from the sync
    assert not torch.allclose(_evaluate(data, 0, WORLD_SIZE)["fvd"], expected["fvd"])
