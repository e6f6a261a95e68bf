"""`genie-lit curves LOGDIR`: a PNG of FVD, ΔtPSNR, NMI, losses and accuracy from a CSVLogger file."""

from __future__ import annotations

import builtins
import csv

import pytest

from genie_lit.curves import read_curves, select_panels
from genie_lit.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_metrics(folder, rows, header=None):
    """A CSVLogger-style file: train and val values on separate rows, empty cells elsewhere."""
    header = header or sorted({k for row in rows for k in row} | {"epoch", "step"})
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "metrics.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in header})
    return folder / "metrics.csv"


def cotraining_rows():
    rows = []
    for step in range(0, 40, 10):
        rows.append({"epoch": 0, "step": step, "train/loss": 4 - step / 20, "train/token_accuracy": step / 100})
        rows.append({"epoch": 0, "step": step, "val/loss": 4.2 - step / 20, "val/fvd_random_i3d": 300 - step,
                     "val/delta_psnr": step / 40, "val/psnr_inferred": 20 + step / 40, "val/psnr_random": 20,
                     "val/action_nmi": step / 80, "val/token_accuracy": step / 90})
    return rows


def test_reading_skips_empty_cells_and_keeps_steps(tmp_path):
    curves = read_curves(write_metrics(tmp_path, cotraining_rows()))
    assert curves["val/delta_psnr"] == [(0.0, 0.0), (10.0, 0.25), (20.0, 0.5), (30.0, 0.75)]
    assert len(curves["train/loss"]) == 4 and "epoch" not in curves


def test_default_panels_group_fvd_delta_psnr_nmi_losses_and_accuracy(tmp_path):
    curves = read_curves(write_metrics(tmp_path, cotraining_rows()))
    panels = {title.split(" ")[0]: names for title, names, _ in select_panels(curves, None)}
    assert panels["FVD"] == ["val/fvd_random_i3d"]
    assert panels["ΔtPSNR"] == ["val/delta_psnr"]
    assert panels["PSNR"] == ["val/psnr_inferred", "val/psnr_random"]
    assert panels["Latent"] == ["val/action_nmi"]
    assert panels["Losses"] == ["train/loss", "val/loss"]
    assert panels["Token"] == ["train/token_accuracy", "val/token_accuracy"]


def test_curves_command_writes_a_png_in_the_run_folder(tmp_path, capsys):
    write_metrics(tmp_path / "run", cotraining_rows())
    assert main(["curves", str(tmp_path / "run")]) == 0
    png = tmp_path / "run" / "curves.png"
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000
    assert str(png) in capsys.readouterr().out


def test_chosen_metrics_and_output_path(tmp_path):
    write_metrics(tmp_path / "run", cotraining_rows())
    out = tmp_path / "plots" / "fvd.png"
    main(["curves", str(tmp_path / "run"), "--out", str(out), "--metrics", "val/fvd_random_i3d,val/delta_psnr"])
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_standard_fvd_name_is_plotted_too(tmp_path):
    curves = read_curves(write_metrics(tmp_path, [{"step": 5, "val/fvd": 81.4}, {"step": 9, "val/recon_fvd": 20}]))
    (title, names, _), = select_panels(curves, None)
    assert title.startswith("FVD") and names == ["val/fvd", "val/recon_fvd"]


def test_a_folder_without_metrics_csv_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "run" / "version_0").mkdir(parents=True)
    write_metrics(tmp_path / "run" / "version_0", cotraining_rows())
    assert main(["curves", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("genie-lit curves: error: ") and err.count("\n") == 1
    assert f"{tmp_path / 'run' / 'metrics.csv'} not found" in err and "version_0/metrics.csv" in err


def test_unknown_metric_names_list_the_available_ones(tmp_path, capsys):
    write_metrics(tmp_path, cotraining_rows())
    assert main(["curves", str(tmp_path), "--metrics", "val/fvd"]) == 1
    assert "not in the metrics file: val/fvd" in capsys.readouterr().err


def test_a_file_that_is_not_a_csvlogger_file(tmp_path, capsys):
    (tmp_path / "metrics.csv").write_text("a,b\n1,2\n")
    assert main(["curves", str(tmp_path)]) == 1
    assert "no 'step' column" in capsys.readouterr().err


def test_without_matplotlib_the_error_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    write_metrics(tmp_path, cotraining_rows())
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert main(["curves", str(tmp_path)]) == 1
    assert "pip install 'genie-lit[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "curves.png").exists()
