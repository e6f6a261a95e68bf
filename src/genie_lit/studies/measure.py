""":class:`RunMeasures`: what a study's table needs of one training run, written by the run itself.

Each run of a study is a ``genie-lit fit`` process; this callback (added with
``--trainer.callbacks+=``) writes ``run_measures.json`` into the run folder when training ends:
steps done, trainable and total parameters, peak memory and fit time. Peak memory is the largest
CUDA allocation on a GPU (``torch.cuda.max_memory_allocated``, as accelerator memory is reported
in papers) and the process's peak resident memory on a CPU (``ru_maxrss``: model, optimizer,
activations and the Python runtime together). A resumed run adds its fit time to the earlier
part's and keeps the larger peak. Only rank 0 writes.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import lightning as L
import torch

MEASURES_FILE = "run_measures.json"


def peak_memory(device: torch.device) -> tuple[int, str]:
    """``(bytes, kind)``: CUDA's peak allocation on a GPU, else this process's peak resident set."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024), "cpu_peak_rss"


class RunMeasures(L.Callback):
    """Writes ``run_measures.json`` (steps, parameters, peak memory, fit seconds) into ``folder``
    (default: ``trainer.default_root_dir``) at the end of training, on rank 0."""

    def __init__(self, folder: str | None = None) -> None:
        self.folder = folder
        self._start = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()
        if pl_module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pl_module.device)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        path = Path(self.folder or trainer.default_root_dir) / MEASURES_FILE
        before = json.loads(path.read_text()) if path.is_file() else {}
        memory, kind = peak_memory(pl_module.device)
        measures = {
            "global_step": int(trainer.global_step), "max_steps": int(trainer.max_steps),
            "parameters_trainable": sum(p.numel() for p in pl_module.parameters() if p.requires_grad),
            "parameters_total": sum(p.numel() for p in pl_module.parameters()),
            "peak_memory_bytes": max(memory, int(before.get("peak_memory_bytes", 0))), "memory_kind": kind,
            "fit_seconds": round(float(before.get("fit_seconds", 0.0)) + time.perf_counter() - self._start, 2),
            "world_size": int(trainer.world_size), "accelerator": pl_module.device.type,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(measures, indent=1))
