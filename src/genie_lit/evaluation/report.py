"""``eval.json`` and ``eval.md``: the numbers of :func:`~genie_lit.evaluation.evaluate_world`,
machine readable and as a report with one table per section, each figure beside its chance
level or baseline, the settings and the command."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genie_lit.evaluation import verdict
from genie_lit.evaluation.consistency import __doc__ as CONSISTENCY_DOC


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else str(value)
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table (``|`` inside cells escaped)."""
    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(fmt(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(headers), "|" + "|".join("---" for _ in headers) + "|", *map(line, rows)])


def write_report(results: dict, out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "eval.json", out / "eval.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path.write_text(markdown(results))
    return json_path, md_path


def markdown(r: dict) -> str:
    held = r["held_out"]
    parts = [
        f"# Evaluation of `{r['checkpoint']}`",
        f"Held-out data: `{r['data']}`, split **{r['split']}**"
        + (" (NOT held out: these episodes were trained on)" if r["split"] == "train" else "")
        + f": {held['episodes']} episode(s), {held['frames']} frames, {held['transitions']} transitions; "
        f"games: {', '.join(held['games'])}. Split decided by {r['split_source']}.",
        verdict.markdown(r),
        _tokenizer(r["tokenizer"]),
    ]
    if r["kind"] == "world":
        parts += [_next_frame(r["next_frame"]), _rollouts(r["rollouts"]),
                  *([_horizon(r["horizon"])] if r.get("horizon") else []), _latent(r["latent_actions"]),
                  _consistency(r["action_consistency"])]
    else:
        parts.append("_Tokenizer checkpoint: the world sections (next frame, rollouts, latent actions, "
                     "consistency) need a co-training checkpoint._")
    parts.append(_settings(r))
    return "\n\n".join(parts) + "\n"


def _tokenizer(s: dict) -> str:
    return "\n\n".join([
        "## Tokenizer reconstruction",
        f"{s['clips']} clips, {s['frames']} frames. PSNR of the MSE pooled over all frames (torchmetrics, as "
        "`val/psnr` in training).",
        table(["metric", "value", "note"], [
            ["PSNR (dB)", s["psnr"], "higher is better"],
            ["SSIM", s["ssim"], "1 is perfect"],
            ["codebook usage", s["codebook_usage"], f"share of the {s['codebook_size']} codes used by these clips"],
        ]),
    ])


def _next_frame(s: dict) -> str:
    return "\n\n".join([
        "## Next-frame prediction (teacher forced, one step)",
        f"{s['clips']} clips: the world is prompted with the real frames x_1..x_(T-1) and steps once to x̂_T. "
        "PSNR against the real x_T (pooled MSE).",
        table(["prediction of x_T", "PSNR (dB)", "role"], [
            ["dynamics, action inferred by the LAM", s["psnr_dynamics_inferred"], "the measure"],
            ["dynamics, random action", s["psnr_dynamics_random"], "baseline: what the action adds"],
            ["copy x_(T-1)", s["psnr_copy_previous"], "baseline: no model"],
            ["tokenizer reconstruction of x_T", s["psnr_tokenizer_ceiling"], "ceiling: the dynamics predicts tokens"],
        ]),
        table(["LAM reconstruction of every next frame", "PSNR (dB)", "role"], [
            ["LAM decoder (x_1..x_t, a_1..a_t -> x_(t+1))", s["psnr_lam"], "the measure (`val/lam_psnr`)"],
            ["copy x_t", s["psnr_lam_copy_previous"], "baseline: no model"],
        ]),
    ])


def _rollouts(s: dict) -> str:
    rows = [
        [f"Δ{s['t']}PSNR (dB)", s["delta_psnr"], "0 (actions carry no information)"],
        [f"PSNR at t={s['t']}, inferred actions", s["psnr_inferred"], f"{fmt(s['psnr_random'])} with random actions"],
    ]
    if "fvd" in s:
        note = "comparable to published FVD" if s["fvd_comparable"] else "NOT comparable to published FVD"
        rows.append([f"`{s['fvd_name']}`", s["fvd"], f"lower is better; {note}"])
    return "\n\n".join([
        "## Rollouts from x_1 (as the RolloutMetrics callback)",
        f"{s['clips']} clips rolled out from their first frame with the LAM's actions and with random actions "
        "(same MaskGIT random numbers).",
        table(["metric", "value", "baseline / note"], rows),
    ])


def _horizon(h: dict) -> str:
    frames = h["frames"]
    shown = sorted({t for t in (2, 4, 8, 12, 16, frames) if 2 <= t <= frames})
    other = h.get("psnr_other_scene")
    rows = [[t, h["psnr_inferred"][t - 1], h["psnr_random"][t - 1], h["psnr_copy_first"][t - 1],
             other[t - 1] if other else None] for t in shown]
    if other is None:
        says = "No game has two held-out clips, so there is no other scene to compare with."
    else:
        says = (f"The rollouts with the LAM's actions stay closer to their real clip than a real clip of another "
                f"scene of the same game for **{h['recognisable_frames']} of {frames} frames** (mean PSNR over "
                f"{h['clips_with_partner']} clips); at frame {frames}, "
                f"{h['recognisable_share_last'] * 100:.0f}% of the clips are closer than their other scene.")
    return "\n\n".join([
        f"## Horizon: {frames}-frame rollouts against the real clip, frame by frame",
        f"{h['clips']} clips of {frames} frames rolled out from their first frame as above (past the training "
        "clips: the world's attention window slides). " + says,
        table(["frame", "LAM actions", "random actions", "copy x_1", "another scene of the game"], rows),
    ])


def _latent(s: dict) -> str:
    shots = s["shots"]
    rows = []
    for game, g in s["games"].items():
        few = g["few_shot"] or {}
        rows.append([game, g["transitions"], g["labelled"], f"{g['codes_used']}/{s['num_latent_actions']}", g["nmi"],
                     g["nmi_chance"], few.get("accuracy"), few.get("chance")])
    m = s["mean"]
    rows.append(["**mean (transition-weighted)**", m["transitions"], m["labelled"], "", m["nmi"], m["nmi_chance"],
                 m["few_shot_accuracy"], m["few_shot_chance"]])
    parts = [
        "## Latent actions against the true actions",
        f"Every held-out transition (LAM over clips of {s['clip_length']} frames overlapping by one). NMI chance: "
        f"NMI against {s['permutations']} random permutations of the true actions. {shots}-shot accuracy: a "
        f"latent -> true action map fitted on {shots} labelled transitions, scored on the others, mean of "
        f"{s['seeds']} draws; chance: always the most frequent true action of the draw.",
        table(["game", "transitions", "labelled", "codes used", "NMI", "NMI chance", f"{shots}-shot accuracy",
               "chance"], rows),
    ]
    for game, g in s["games"].items():
        usage = g["code_usage"]
        parts.append(f"### {game}\n\nCode usage (transitions per latent action):\n\n"
                     + table([f"a{a}" for a in range(len(usage))], [usage]))
        if g["joint"]:
            names = g.get("action_names") or []
            joint = g["joint"]
            used = [j for j in range(len(joint[0])) if any(row[j] for row in joint)]
            heads = [names[j] if j < len(names) else f"true {j}" for j in used]
            parts.append("Joint counts (latent code x true action; codes never used left out):\n\n"
                         + table(["code", *heads], [[f"a{a}", *[row[j] for j in used]]
                                                    for a, row in enumerate(joint) if any(row)]))
        if g.get("note") or (g["few_shot"] or {}).get("note"):
            parts.append(f"_{g.get('note') or g['few_shot']['note']}_")
    return "\n\n".join(parts)


def _consistency(s: dict) -> str:
    definition = CONSISTENCY_DOC.split("\n\n", 1)[1].strip().replace("``", "`")
    rows = [[f"a{p['action']}", p["consistency"], f"({p['mean_displacement_px'][0]:.2f}, "
             f"{p['mean_displacement_px'][1]:.2f})", p["mean_abs_effect"], p["prompts_with_effect"]]
            for p in s["per_action"]]
    rows.append(["**all actions**", s["consistency"], "", "", ""])
    rows.append(["baseline: different actions", s["baseline_across_actions"], "", "", ""])
    return "\n\n".join([
        "## Action consistency",
        f"{s['prompts']} held-out prompt frames. {definition}",
        table(["latent action", "consistency (mean cosine)", "mean displacement (dx, dy) px", "mean |effect|",
               "prompts where it moves something"], rows),
        table(["game", "prompts", "consistency", "baseline (different actions)"],
              [[game, g["prompts"], g["consistency"], g["baseline_across_actions"]] for game, g in s["games"].items()]),
    ])


def _settings(r: dict) -> str:
    settings = table(["setting", "value"], [[k, v] for k, v in r["settings"].items()])
    timings = ", ".join(f"{k} {v} s" for k, v in r["timings_s"].items())
    command = r.get("command") or "evaluate_world(...) (Python API)"
    return f"## Settings\n\n{settings}\n\nTimings: {timings}.\n\nCommand:\n\n```\n{command}\n```"
