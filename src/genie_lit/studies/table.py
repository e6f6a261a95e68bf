"""A study's table: per variant, our figures over seeds with 95% intervals, the paper's beside them.

Intervals are from a two-level (hierarchical) bootstrap: resample the seeds with replacement,
then the held-out clips within each resampled seed, and take the 2.5 and 97.5 percentiles of the
statistic. So an interval holds both sources of noise, training seeds and evaluation clips; with
one seed it is the clip-level interval alone. Fixed resampling seed: the same runs give the same
table.

- ΔtPSNR (t = 4 by default): mean of the per-clip values; interval as above. Against the first
  variant (the reference) a paired difference is bootstrapped on the same seeds and clips (all
  variants are evaluated on the same clips with the same random numbers); "separated" means the
  difference's interval excludes 0.
- FVD: mean over seeds of each seed's FVD; the interval resamples seeds and clip pairs (real and
  generated features of a clip kept together) and recomputes FVD.
- Tokenizer PSNR and latent-action NMI: one figure per seed (pooled over clips); mean and the
  per-seed values.
- Parameters (trainable, per phase), peak memory (largest over seeds and phases of the run's own
  measure: CUDA allocation on a GPU, process RSS on a CPU) and wall time (all phases, mean over seeds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from genie_lit.studies.evaluate import FEATURES_FILE

FORMAT = "genie_lit.study_table/1"
RESAMPLING_SEED = 0


def bootstrap(per_seed: list[np.ndarray], statistic, resamples: int, rng: np.random.Generator) -> tuple[float, float]:
    """95% interval of ``statistic(list of per-seed samples)`` under the two-level bootstrap."""
    values = []
    k = len(per_seed)
    for _ in range(resamples):
        picked = [per_seed[i] for i in rng.integers(0, k, size=k)]
        values.append(statistic([x[rng.integers(0, len(x), size=len(x))] for x in picked]))
    low, high = np.percentile(np.asarray(values, dtype=np.float64), [2.5, 97.5])
    return float(low), float(high)


def _mean_of_means(samples: list[np.ndarray]) -> float:
    return float(np.mean([x.mean() for x in samples]))


def _fvd_of(samples: list[np.ndarray]) -> float:
    import torch

    from genie_lit.metrics.fvd import fvd_from_features

    values = []
    for pairs in samples:  # pairs: n x 2 x f (real, generated)
        values.append(float(fvd_from_features(torch.from_numpy(pairs[:, 0]), torch.from_numpy(pairs[:, 1]))))
    return float(np.mean(values))


def summarise(results: dict[str, dict[int, dict[str, Any]]], settings: dict[str, Any]) -> dict[str, Any]:
    """The table (JSON-ready) from :meth:`Runner.results`."""
    rng = np.random.default_rng(RESAMPLING_SEED)
    table: dict[str, Any] = {}
    reference_name = next(iter(results))
    deltas: dict[str, dict[int, np.ndarray]] = {}
    for variant, seeds in results.items():
        row: dict[str, Any] = {"seeds": sorted(seeds)}
        evals = {s: r["eval"] for s, r in seeds.items() if r["eval"]}
        row["evaluated_seeds"] = sorted(evals)
        phases = {}
        for seed, r in seeds.items():
            for phase, entry in r["phases"].items():
                measures = entry.get("measures") or {}
                item = phases.setdefault(phase, {"parameters": None, "peak_memory_gb": None, "seconds": []})
                if measures:
                    item["parameters"] = measures["parameters_trainable"]
                    gb = measures["peak_memory_bytes"] / 1e9
                    item["peak_memory_gb"] = max(gb, item["peak_memory_gb"] or 0.0)
                    item["memory_kind"] = measures["memory_kind"]
                if entry.get("seconds"):
                    item["seconds"].append(entry["seconds"])
        row["phases"] = {p: {**v, "seconds": float(np.mean(v["seconds"])) if v["seconds"] else None}
                         for p, v in phases.items()}
        row["train_seconds"] = sum(v["seconds"] or 0.0 for v in row["phases"].values())
        delta = {s: np.asarray(e["rollouts"]["delta_psnr_per_clip"]) for s, e in evals.items() if "rollouts" in e}
        deltas[variant] = delta
        if delta:
            samples = list(delta.values())
            row["delta_psnr"] = {"mean": _mean_of_means(samples),
                                 "ci95": bootstrap(samples, _mean_of_means, settings["bootstrap"], rng),
                                 "per_seed": {s: float(v.mean()) for s, v in delta.items()},
                                 "clips": int(sum(len(v) for v in samples)), "t": settings["t"]}
        features = []
        for seed, e in evals.items():
            path = Path(seeds[seed]["eval_folder"]) / FEATURES_FILE
            if e.get("fvd") is not None and path.is_file():
                with np.load(path) as data:
                    features.append(np.stack([data["real"], data["fake"]], axis=1))
        if features:
            fvd_values = {s: e["fvd"] for s, e in evals.items() if e.get("fvd") is not None}
            row["fvd"] = {"name": next(e["fvd_name"] for e in evals.values() if "fvd_name" in e),
                          "mean": float(np.mean(list(fvd_values.values()))),
                          "ci95": bootstrap(features, _fvd_of, settings["fvd_bootstrap"], rng),
                          "per_seed": fvd_values, "clips": int(sum(len(f) for f in features))}
        for key, pick in (("tokenizer_psnr", lambda e: e["tokenizer"]["psnr"]),
                          ("action_nmi", lambda e: (e.get("latent_actions") or {}).get("nmi"))):
            values = {s: pick(e) for s, e in evals.items() if pick(e) is not None}
            if values:
                row[key] = {"mean": float(np.mean(list(values.values()))), "per_seed": values}
        table[variant] = row
    reference = deltas.get(reference_name) or {}
    for variant, delta in deltas.items():
        common = sorted(set(delta) & set(reference))
        if variant == reference_name or not common or any(len(delta[s]) != len(reference[s]) for s in common):
            continue
        diffs = [delta[s] - reference[s] for s in common]
        low, high = bootstrap(diffs, _mean_of_means, settings["bootstrap"], rng)
        table[variant]["delta_psnr_vs_reference"] = {"reference": reference_name, "mean": _mean_of_means(diffs),
                                                     "ci95": (low, high), "separated": bool(low > 0 or high < 0)}
    return table


def _pm(entry: dict | None, digits: int) -> str:
    if not entry:
        return "n/a"
    low, high = entry["ci95"]
    return f"{entry['mean']:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _seeds(entry: dict | None, digits: int) -> str:
    if not entry:
        return "n/a"
    values = ", ".join(f"{v:.{digits}f}" for v in entry["per_seed"].values())
    return f"{entry['mean']:.{digits}f} ({values})"


def _millions(count: int | None) -> str:
    return "n/a" if count is None else f"{count / 1e6:.2f}M"


def _paper(figures: dict, key: str) -> str:
    value = figures.get(key)
    return "—" if value is None else str(value)


def markdown(study: dict[str, Any], table: dict[str, Any], paper: dict[str, Any]) -> str:
    figures = paper.get("figures") or {}
    settings = study.get("evaluation") or {}
    fvd_name = next((r["fvd"]["name"] for r in table.values() if "fvd" in r), None)
    reference = next(iter(table), None)
    phases = list(next(iter(table.values()))["phases"]) if table else []
    headers = ["variant", *[f"params ({p})" for p in phases], "peak memory GB", "train time", f"FVD ({fvd_name})" if fvd_name else "FVD",
               "Δ4PSNR dB", "vs reference", "tokenizer PSNR dB", "action NMI", "paper FVD", "paper ΔtPSNR",
               "paper memory GB"]
    rows = []
    for variant, row in table.items():
        memory = [v["peak_memory_gb"] for v in row["phases"].values() if v["peak_memory_gb"] is not None]
        versus = row.get("delta_psnr_vs_reference")
        rows.append([variant, *[_millions(row["phases"][p]["parameters"]) for p in phases],
                     f"{max(memory):.2f}" if memory else "n/a",
                     f"{row['train_seconds'] / 60:.1f} min" if row["train_seconds"] else "n/a",
                     _pm(row.get("fvd"), 1), _pm(row.get("delta_psnr"), 2),
                     ("reference" if variant == reference else "n/a" if versus is None else
                      f"{versus['mean']:+.2f} [{versus['ci95'][0]:+.2f}, {versus['ci95'][1]:+.2f}]"
                      + (" separated" if versus["separated"] else " within noise")),
                     _seeds(row.get("tokenizer_psnr"), 2), _seeds(row.get("action_nmi"), 3),
                     *(_paper(figures.get(variant, {}), k) for k in ("fvd", "delta_psnr", "memory_gb"))])
    line = lambda cells: "| " + " | ".join(str(c) for c in cells) + " |"  # noqa: E731
    lines = [f"# Study: {study['name']}", "", line(headers), "|" + "---|" * len(headers), *map(line, rows), "",
             f"Seeds {study.get('seeds')}; per seed {settings.get('clips')} held-out clips of "
             f"{settings.get('clip_length')} real frames at most (FVD and Δ{settings.get('t')}PSNR), "
             f"{settings.get('bootstrap')} bootstrap resamples ({settings.get('fvd_bootstrap')} for FVD).", "",
             "Ours: mean [95% interval] over seeds and held-out clips (two-level bootstrap); tokenizer PSNR and "
             "action NMI: mean (per seed). 'vs reference': the paired ΔtPSNR difference to the first variant; "
             "'separated' when its interval excludes 0.", "",
             f"Paper: {paper.get('source', 'no reference figures given')}. The paper's models, data and FVD features "
             "differ from ours: compare rankings, not values" + ("" if fvd_name in (None, "fvd") else
                                                                 f"; our FVD is {fvd_name}, not standard FVD") + "."]
    return "\n".join(lines) + "\n"


def write_table(out: Path, study: dict[str, Any], table: dict[str, Any], paper: dict[str, Any]) -> tuple[Path, Path]:
    json_path, md_path = out / "table.json", out / "table.md"
    json_path.write_text(json.dumps({"format": FORMAT, "study": study, "paper": paper, "variants": table}, indent=1))
    md_path.write_text(markdown(study, table, paper))
    return json_path, md_path
