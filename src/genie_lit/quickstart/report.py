"""``DIR/report.md`` (and ``report.json``) of ``genie-lit quickstart``: the figures that say whether
the world learned, each beside its chance level, wall time per stage, PNG curves of both training
runs, and mp4 rollouts from held-out prompts with every latent action held (as Genie's Fig. 7)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from genie_lit.curves import find_metrics_csv, plot, read_curves, select_panels
from genie_lit.evaluation.data import load_held_out, to_video
from genie_lit.evaluation import verdict
from genie_lit.evaluation.report import fmt, table
from genie_lit.media.frames import panel_video
from genie_lit.media.write import write_video
from genie_lit.models.world import Genie, rollout
from genie_lit.quickstart.pipeline import STAGES, QuickstartState

HELD_STEPS = 15  # frames generated per latent action in the report's videos
VIDEO_SCALE = 4  # nearest-neighbour enlargement of the report's video panels


def write_curves(out: Path) -> dict[str, str]:
    """``DIR/report/<stage>_curves.png`` for each training run (the decoder phase where the run has
    one); a note instead where it cannot."""
    written = {}
    for stage in ("tokenizer", "decoder", "world"):
        if stage == "decoder" and not (out / stage).is_dir():
            continue
        try:
            path = find_metrics_csv(out / stage)
            curves = read_curves(path)
            png = plot(curves, select_panels(curves, None), out / "report" / f"{stage}_curves.png", title=stage)
            written[stage] = str(png.relative_to(out))
        except (FileNotFoundError, ValueError, ImportError) as err:
            written[stage] = f"not drawn: {err}"
    return written


@torch.no_grad()
def write_videos(out: Path, world: Genie, data_dir: Path, split: str, per_game: int, seed: int) -> list[str]:
    """Per game and prompt, one mp4: the first panel the real continuation (labelled ``R``), then one
    panel per latent action held for :data:`HELD_STEPS` steps from the same held-out frame (labelled
    with the action), every panel enlarged :data:`VIDEO_SCALE` times."""
    held = load_held_out(data_dir, split, world.image_size, None)
    written = []
    for game, picks in video_prompts(held.episodes, per_game).items():
        for k, (e, f) in enumerate(picks):
            frames = held.episodes[e].frames
            real = to_video(frames[f:f + HELD_STEPS + 1])
            if len(real) < HELD_STEPS + 1:  # too near the end: repeat the last real frame
                real = torch.cat((real, real[-1:].expand(HELD_STEPS + 1 - len(real), -1, -1, -1)))
            n = world.num_actions
            actions = torch.arange(n)[:, None].expand(n, HELD_STEPS)
            panels = rollout(world, real[None].expand(n, -1, -1, -1, -1).to(world.device), actions, seed).cpu()
            labels = ["R", *(["P", *[str(a)] * HELD_STEPS] for a in range(n))]
            video = panel_video(torch.cat((real[None], panels.clamp(0, 1))), min(n + 1, 5), labels, VIDEO_SCALE)
            path = write_video(video, out / "report" / "videos" / f"{game}_prompt{k}_actions.mp4", fps=10.0)
            written.append(str(path.relative_to(out)))
    return written


def video_prompts(episodes: list, per_game: int) -> dict[str, list[tuple[int, int]]]:
    """``(episode, frame)`` per game at ``k / (per_game + 1)`` of the game's held-out frames (never an
    episode's first frames, which in Atari often show a reset screen) with :data:`HELD_STEPS`
    real frames after it where the episode has them."""
    frames_by_game: dict[str, list[tuple[int, int]]] = {}
    for i, episode in enumerate(episodes):
        last = max(1, len(episode.frames) - HELD_STEPS - 1)
        frames_by_game.setdefault(episode.game, []).extend((i, f) for f in range(min(last, len(episode.frames) - 1)))
    return {game: [frames[len(frames) * (k + 1) // (per_game + 1)] for k in range(per_game)]
            for game, frames in sorted(frames_by_game.items())}


def write_quickstart_report(out: Path, state: QuickstartState, videos_per_game: int, seed: int) -> Path:
    results = json.loads((out / "eval" / "eval.json").read_text())
    curves = write_curves(out)
    videos: list[str] = []
    if videos_per_game:
        world = Genie.from_checkpoint(str(out / "world" / "checkpoints" / "last.ckpt"))  # MASKGIT_STEPS
        videos = write_videos(out, world, Path(results["data"]), results["split"], videos_per_game, seed)
    summary = figures(results)
    report = {"figures": summary, "verdicts": [v.__dict__ for v in verdict.verdicts(
                  results, state.stages.get("world", {}).get("global_step"))], "stages": state.stages, "settings": state.settings, "curves": curves,
              "videos": videos, "evaluation": "eval/eval.json"}
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    path = out / "report.md"
    path.write_text(markdown(summary, state, curves, videos, results))
    return path


def figures(r: dict) -> dict:
    """The headline numbers of an ``eval.json`` with their chance levels."""
    la, ro, nf, tok = r["latent_actions"]["mean"], r["rollouts"], r["next_frame"], r["tokenizer"]
    horizon = r.get("horizon") or {}
    return {
        "tokenizer_psnr": tok["psnr"], "tokenizer_ssim": tok["ssim"],
        "next_frame_psnr_inferred": nf["psnr_dynamics_inferred"], "next_frame_psnr_random": nf["psnr_dynamics_random"],
        "next_frame_psnr_copy": nf["psnr_copy_previous"], "lam_psnr": nf["psnr_lam"],
        "delta_psnr": ro["delta_psnr"], "delta_psnr_t": ro["t"], "fvd": ro.get("fvd"), "fvd_name": ro.get("fvd_name"),
        "rollout_frames": horizon.get("frames"), "rollout_recognisable_frames": horizon.get("recognisable_frames"),
        "rollout_recognisable_share_last": horizon.get("recognisable_share_last"),
        "action_nmi": la["nmi"], "action_nmi_chance": la["nmi_chance"],
        "few_shot_accuracy": la["few_shot_accuracy"], "few_shot_chance": la["few_shot_chance"],
        "shots": r["latent_actions"]["shots"], "consistency": r["action_consistency"]["consistency"],
        "consistency_baseline": r["action_consistency"]["baseline_across_actions"],
        "split": r["split"], "held_out_episodes": r["held_out"]["episodes"], "games": r["held_out"]["games"],
    }


def markdown(f: dict, state: QuickstartState, curves: dict[str, str], videos: list[str], r: dict) -> str:
    shots = f["shots"]
    rows = [
        ["tokenizer PSNR (dB)", f["tokenizer_psnr"], "", "reconstruction of held-out frames"],
        ["tokenizer SSIM", f["tokenizer_ssim"], "", ""],
        ["next-frame PSNR, LAM actions (dB)", f["next_frame_psnr_inferred"],
         f"{fmt(f['next_frame_psnr_random'])} random action; {fmt(f['next_frame_psnr_copy'])} copy",
         "dynamics, one step, teacher forced"],
        [f"Δ{f['delta_psnr_t']}PSNR (dB)", f["delta_psnr"], "0", "paper: 1.91 on platformers"],
        ["rollout frames recognisable", None if f.get("rollout_recognisable_frames") is None else
         f"{f['rollout_recognisable_frames']}/{f['rollout_frames']}", "",
         "closer to the real clip than another scene of the game (mean PSNR)"],
        ["latent action NMI", f["action_nmi"], fmt(f["action_nmi_chance"]), "against the recorded true actions"],
        [f"{shots}-shot action accuracy", f["few_shot_accuracy"], fmt(f["few_shot_chance"]),
         f"latent -> true map fitted on {shots} labelled transitions"],
        ["action consistency", f["consistency"], fmt(f["consistency_baseline"]), "same action, different prompts"],
    ]
    if f["fvd"] is not None:
        rows.append([f"`{f['fvd_name']}`", f["fvd"], "", "lower is better" + (
            "" if f["fvd_name"] == "fvd" else "; random-weight I3D, NOT comparable to published FVD")])
    times = [[stage, f"{state.seconds(stage):.0f}", state.stages.get(stage, {}).get("global_step", "")]
             for stage in STAGES]
    settings = state.settings
    parts = [
        "# genie-lit quickstart report",
        f"`{settings.get('command')}` on {settings.get('accelerator')}; held-out split **{f['split']}** "
        f"({f['held_out_episodes']} episodes of {', '.join(f['games'])}), never trained on. The true actions "
        "come from the recorder's sidecars, which training never reads.",
        verdict.markdown(r, state.stages.get("world", {}).get("global_step")),
        "## Figures",
        table(["measure", "value", "chance / baseline", "note"], rows),
        "## Wall time per stage",
        table(["stage", "seconds", "training steps"], times),
        "## Curves",
        "\n".join(f"- {stage}: " + (f"![{stage}]({p})" if p.endswith(".png") else p) for stage, p in curves.items()),
        "## Rollouts",
        "Each video: the real continuation, then one panel per latent action held from the same held-out frame "
        "(left to right, top to bottom: real, a0, a1, ...).\n\n" + "\n".join(f"- [{v}]({v})" for v in videos)
        if videos else "_No videos (--videos 0)._",
        "Full evaluation: [eval/eval.md](eval/eval.md). Play the world: "
        f"`genie-lit play --ckpt {Path(r['checkpoint'])} --serve`.",
    ]
    return "\n\n".join(parts) + "\n"
