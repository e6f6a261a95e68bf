"""``genie-lit curves LOGDIR``: plot a run's FVD and ΔtPSNR (Bruce et al., 2024, §3 "Metrics")
with the latent-action NMI, the losses and the token accuracy, from the run's ``metrics.csv``.

Reads the CSV that Lightning's ``CSVLogger`` writes (the default loggers of ``genie-lit fit`` put
it in ``trainer.default_root_dir``): one column per logged name, a ``step`` column, and rows that
hold only some names (training and validation values are logged at different times), so each
curve is the non-empty cells of its column against ``step``. Writes a PNG with one panel per
group of curves that the run logged. matplotlib is an optional extra: ``pip install
'genie-lit[plot]'``.

With several runs (``genie-lit curves LABEL=DIR LABEL=DIR ...``) the runs are overlaid: one colour
per label, the mean over the runs that share a label as a line and their range as a band (the
seeds of one variant), on the FVD and ΔtPSNR panels (or ``--metrics``). ``genie-lit study`` draws
its ``curves.png`` the same way (:func:`plot_overlay`).
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
    plt = _pyplot()
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
    return _save(figure, title, out)


# overlay panels: (title, the first column of a run that matches)
OVERLAY_PANELS: list[tuple[str, Callable[[str], bool]]] = [
    ("FVD (lower is better)", lambda n: n.startswith("val/fvd")),
    ("ΔtPSNR (dB, higher: more controllable)", lambda n: n == "val/delta_psnr"),
]


def band(runs: list[list[tuple[float, float]]]) -> tuple[list[float], list[float], list[float], list[float]]:
    """``(steps, mean, low, high)`` over the runs at the steps that every run logged (the union of
    steps when the runs share none, each step over the runs that have it)."""
    tables = [dict(run) for run in runs]
    common = set.intersection(*(set(t) for t in tables)) or set.union(*(set(t) for t in tables))
    steps = sorted(common)
    values = [[t[s] for t in tables if s in t] for s in steps]
    return (steps, [sum(v) / len(v) for v in values], [min(v) for v in values], [max(v) for v in values])


def overlay_series(groups: dict[str, list[Curves]], metrics: Sequence[str] | None = None
                   ) -> list[tuple[str, dict[str, list[list[tuple[float, float]]]]]]:
    """Panels ``(title, {label: [one curve per run]})`` for :func:`plot_overlay`; a run contributes
    its first column matching the panel (e.g. ``val/fvd_random_i3d``) or the named metric."""
    wanted = [(m, (lambda n, m=m: n == m)) for m in metrics] if metrics else OVERLAY_PANELS
    panels = []
    for title, match in wanted:
        series: dict[str, list[list[tuple[float, float]]]] = {}
        for label, runs in groups.items():
            for curves in runs:
                name = next((n for n in sorted(curves) if match(n)), None)
                if name is not None:
                    series.setdefault(label, []).append(curves[name])
        if series:
            panels.append((title, series))
    if not panels:
        names = sorted({n for runs in groups.values() for c in runs for n in c})
        raise ValueError(f"none of the runs logged {', '.join(metrics) if metrics else 'FVD or ΔtPSNR'}; "
                         f"they have: {', '.join(names) or 'no values'}")
    return panels


def plot_overlay(groups: dict[str, list[Curves]], out: Path, title: str, metrics: Sequence[str] | None = None) -> Path:
    """One panel per metric, one colour per label: mean over its runs, band from min to max."""
    panels = overlay_series(groups, metrics)
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.8), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (panel_title, series) in zip(axes.flat, panels):
        for k, label in enumerate(groups):
            if label not in series:
                continue
            steps, mean, low, high = band(series[label])
            colour = colours[k % len(colours)]
            runs = len(series[label])
            ax.plot(steps, mean, color=colour, marker="o" if len(steps) < 30 else None, markersize=3,
                    label=f"{label} ({runs} run{'s' if runs > 1 else ''})")
            if runs > 1:
                ax.fill_between(steps, low, high, color=colour, alpha=0.2, linewidth=0)
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(figure, title, out)


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("genie-lit curves needs matplotlib: pip install 'genie-lit[plot]'") from err
    return plt


def parse_run(text: str) -> tuple[str, Path]:
    """``LABEL=DIR`` -> ``(LABEL, DIR)``; a bare ``DIR`` is labelled by its path."""
    label, sep, folder = text.partition("=")
    return (label, Path(folder)) if sep and label and not Path(text).exists() else (text, Path(text))


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser("curves", "Plot FVD, ΔtPSNR, action NMI, losses and token accuracy of a run from its "
                        "metrics.csv, or overlay several runs.",
                        "overlay: genie-lit curves st=runs/st/seed0 st=runs/st/seed1 vit=runs/vit/seed0 --out cmp.png\n"
                        "  one colour per label; runs sharing a label are drawn as their mean and a band (min to max).")
    parser.add_argument("logdir", nargs="+", metavar="[LABEL=]LOGDIR",
                        help="run folder holding metrics.csv (trainer.default_root_dir); several: overlay them")
    parser.add_argument("--out", type=Path, default=None,
                        help="PNG to write (default: LOGDIR/curves.png; curves_overlay.png here for several runs)")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated names to plot, one panel each (e.g. val/fvd,val/delta_psnr)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), _run, argv, errors=lambda: (FileNotFoundError, ValueError, ImportError))


def _run(args: argparse.Namespace) -> int:
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    runs = [parse_run(text) for text in args.logdir]
    if len(runs) > 1 or runs[0][0] != args.logdir[0]:
        groups: dict[str, list[Curves]] = {}
        for label, folder in runs:
            groups.setdefault(label, []).append(read_curves(find_metrics_csv(folder)))
        print(plot_overlay(groups, args.out or Path("curves_overlay.png"), "; ".join(groups), metrics))
        return 0
    path = find_metrics_csv(runs[0][1])
    curves = read_curves(path)
    panels = select_panels(curves, metrics)
    folder = path.parent
    print(plot(curves, panels, args.out or folder / "curves.png", title=str(folder)))
    return 0


def _save(figure, title: str, out: Path) -> Path:
    """Title, lay out, write ``out`` (its folder made) and close ``figure``."""
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    _pyplot().close(figure)
    return out
