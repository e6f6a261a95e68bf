"""``genie-lit curves LOGDIR``: plot a run's FVD and ΔtPSNR (Bruce et al., 2024, §3 "Metrics")
with the latent-action NMI, the losses and the token accuracy, from the run's ``metrics.csv``.

Reads the CSV that Lightning's ``CSVLogger`` writes (the default loggers of ``genie-lit fit`` put
it in ``trainer.default_root_dir``): one column per logged name, a ``step`` column, and rows that
hold only some names (training and validation values are logged at different times), so each
curve is the non-empty cells of its column against ``step``. Writes a PNG with one panel per
group of curves that the run logged. matplotlib is an optional extra: ``pip install
'genie-lit[plot]'``.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from genie_lit.commands import new_parser, run_command

Curves = dict[str, list[tuple[float, float]]]

# (title, which columns, log-scale y); names are those genie_lit's modules and callbacks log
PANELS: list[tuple[str, Callable[[str], bool], bool]] = [
    ("FVD (lower is better)", lambda n: n.startswith(("val/fvd", "val/recon_fvd")), False),
    ("ΔtPSNR (dB, higher: more controllable)", lambda n: n == "val/delta_psnr", False),
    ("PSNR at frame t (dB)", lambda n: n in ("val/psnr_inferred", "val/psnr_random"), False),
    ("Latent action NMI with true actions", lambda n: n.endswith("/action_nmi"), False),
    ("Losses", lambda n: n.endswith("loss"), True),
    ("Token accuracy", lambda n: n.endswith("/token_accuracy"), False),
    ("Reconstruction", lambda n: n in ("val/psnr", "val/lam_psnr", "train/psnr"), False),
]


def find_metrics_csv(logdir: Path) -> Path:
    """``logdir/metrics.csv`` (or ``logdir`` itself when it is a CSV file); a clear error otherwise."""
    if logdir.is_file() and logdir.suffix == ".csv":
        return logdir
    path = logdir / "metrics.csv"
    if path.is_file():
        return path
    if not logdir.exists():
        raise FileNotFoundError(f"{logdir} does not exist; pass the run folder (trainer.default_root_dir)")
    nested = sorted(str(p) for p in logdir.glob("**/metrics.csv"))[:5]
    hint = f"; metrics.csv files below it: {', '.join(nested)}" if nested else ""
    raise FileNotFoundError(f"{path} not found: pass the run folder in which CSVLogger wrote metrics.csv "
                            f"(genie-lit fit's default loggers write it in trainer.default_root_dir){hint}")


def read_curves(path: Path) -> Curves:
    """Every column of a CSVLogger file as ``name -> [(step, value), ...]`` (empty cells skipped)."""
    curves: Curves = {}
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        if reader.fieldnames is None or "step" not in reader.fieldnames:
            raise ValueError(f"{path} is not a Lightning CSVLogger metrics file (no 'step' column)")
        for row in reader:
            step = _number(row.get("step"))
            if step is None:
                continue
            for name, cell in row.items():
                value = _number(cell)
                if name not in ("step", "epoch") and value is not None:
                    curves.setdefault(name, []).append((step, value))
    return curves


def _number(cell: str | None) -> float | None:
    try:
        value = float(cell) if cell not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def select_panels(curves: Curves, metrics: Sequence[str] | None) -> list[tuple[str, list[str], bool]]:
    """Panels ``(title, names, log_y)`` that have data; one panel per name when ``metrics`` is given."""
    if metrics:
        missing = [m for m in metrics if m not in curves]
        if missing:
            raise ValueError(f"not in the metrics file: {', '.join(missing)}; it has: {', '.join(sorted(curves))}")
        return [(name, [name], False) for name in metrics]
    panels = []
    for title, wanted, log_y in PANELS:
        names = sorted(n for n in curves if wanted(n))
        if names:
            panels.append((title, names, log_y and all(v > 0 for n in names for _, v in curves[n])))
    if not panels:
        raise ValueError(f"no FVD, ΔtPSNR, NMI, loss or accuracy curve in the metrics file; it has: "
                         f"{', '.join(sorted(curves)) or 'no values'}")
    return panels


def plot(curves: Curves, panels: list[tuple[str, list[str], bool]], out: Path, title: str) -> Path:
    """Draw the panels in a grid of two columns and save a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("genie-lit curves needs matplotlib: pip install 'genie-lit[plot]'") from err
    columns = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6 * columns, 3.4 * rows), squeeze=False)
    for ax, (panel_title, names, log_y) in zip(axes.flat, panels):
        for name in names:
            steps, values = zip(*sorted(curves[name]))
            ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=name)
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("step")
        if log_y:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser("curves", "Plot FVD, ΔtPSNR, action NMI, losses and token accuracy of a run from its "
                        "metrics.csv.")
    parser.add_argument("logdir", type=Path, help="run folder holding metrics.csv (trainer.default_root_dir)")
    parser.add_argument("--out", type=Path, default=None, help="PNG to write (default: LOGDIR/curves.png)")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated names to plot, one panel each (e.g. val/fvd,val/delta_psnr)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), _run, argv, errors=lambda: (FileNotFoundError, ValueError, ImportError))


def _run(args: argparse.Namespace) -> int:
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    path = find_metrics_csv(args.logdir)
    curves = read_curves(path)
    panels = select_panels(curves, metrics)
    folder = path.parent
    print(plot(curves, panels, args.out or folder / "curves.png", title=str(folder)))
    return 0
