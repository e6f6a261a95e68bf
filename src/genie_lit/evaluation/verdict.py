"""Plain-language verdicts on an evaluation: which figures are within noise of their chance level
or baseline, what that means, and what to try.

The margins come from the spread between seeds of the default quickstart
(``benchmarks/results/quickstart_runs.json``, three seeds): Δ4PSNR's std there is 0.31 dB, the
next-frame PSNR's 0.09 dB (margin 0.3 dB, about three stds), NMI's 0.012 against a chance level
of 0.017 (margin: twice the chance level). A figure inside its margin cannot be told apart from
its chance level or baseline by one run.
"""

from __future__ import annotations

from dataclasses import dataclass

# a figure closer than this to its chance level / baseline is "within noise"
MARGINS = {
    "next_frame_db": 0.3,  # next-frame PSNR against copying the last frame, dB
    "action_db": 0.1,  # next-frame PSNR with the inferred action against a random one, dB
    "delta_psnr_db": 0.3,  # Δ_t PSNR against 0, dB
    "nmi_ratio": 2.0,  # NMI must be this many times its permutation chance level
    "few_shot_ratio": 1.1,  # few-shot accuracy must be this many times its majority chance level
}
TOKENIZER_PSNR_DB = 30.0  # below this, frames are visibly blurred at 64x64 and every world figure suffers


@dataclass
class Verdict:
    figure: str
    ok: bool
    says: str  # what the numbers show
    means: str = ""  # what that means
    try_: str = ""  # what to try

    def markdown(self) -> str:
        mark = "✓" if self.ok else "✗"
        text = f"- {mark} **{self.figure}**: {self.says}"
        if not self.ok:
            text += f" {self.means} *Try:* {self.try_}"
        return text


def verdicts(r: dict, world_steps: int | None = None) -> list[Verdict]:
    """Verdicts for an ``eval.json`` dict (world or tokenizer checkpoint)."""
    more = (f"train longer: --world-steps {2 * world_steps} (double the {world_steps} steps this world had)"
            if world_steps else "train the world for more steps (double them first)")
    out = []
    tok = r["tokenizer"]
    out.append(Verdict("tokenizer", tok["psnr"] >= TOKENIZER_PSNR_DB,
                       f"reconstruction PSNR {tok['psnr']:.2f} dB (threshold {TOKENIZER_PSNR_DB:.0f} dB).",
                       "Blurred tokens cap every world figure.",
                       "more tokenizer steps (--tokenizer-steps), a longer decoder phase (--decoder-steps) or a "
                       "larger codebook."))
    if r.get("kind") != "world":
        return out
    nf, ro, la = r["next_frame"], r["rollouts"], r["latent_actions"]["mean"]
    gain = nf["psnr_dynamics_inferred"] - nf["psnr_copy_previous"]
    out.append(Verdict("next frame", gain >= MARGINS["next_frame_db"],
                       f"the dynamics predicts the next frame at {nf['psnr_dynamics_inferred']:.2f} dB against "
                       f"{nf['psnr_copy_previous']:.2f} dB for copying the last frame ({gain:+.2f} dB).",
                       "The world has not learned the games' motion beyond standing still.", more + "."))
    action_gain = nf["psnr_dynamics_inferred"] - nf["psnr_dynamics_random"]
    out.append(Verdict("action effect, one step", action_gain >= MARGINS["action_db"],
                       f"inferred action {nf['psnr_dynamics_inferred']:.2f} dB vs a random one "
                       f"{nf['psnr_dynamics_random']:.2f} dB ({action_gain:+.2f} dB).",
                       "The next frame hardly depends on which latent action is played.",
                       more + ", and check the latent actions below."))
    delta = ro["delta_psnr"]
    out.append(Verdict(f"controllability (Δ{ro['t']}PSNR)", delta >= MARGINS["delta_psnr_db"],
                       f"{delta:.2f} dB (noise between seeds about {MARGINS['delta_psnr_db']} dB).",
                       "Rollouts with the inferred actions are no closer to the real clip than with random ones: "
                       "the world is not controllable by its latent actions.", more + "."))
    horizon = r.get("horizon") or {}
    if horizon.get("recognisable_frames") is not None:
        frames, kept = horizon["frames"], horizon["recognisable_frames"]
        out.append(Verdict("rollout horizon", kept == frames,
                           f"rollouts stay closer to the real clip than another scene of the same game for {kept} "
                           f"of {frames} frames (frame {frames}: {horizon['psnr_inferred_with_partner'][-1]:.2f} dB "
                           f"against {horizon['psnr_other_scene'][-1]:.2f} dB).",
                           "Long rollouts drift from their scene or dissolve into artefacts: play would lose the "
                           "game within a few frames.", more + "; a larger dynamics model (--world-config)."))
    if la["nmi"] is not None:
        ratio = la["nmi"] / max(la["nmi_chance"], 1e-9)
        out.append(Verdict("latent actions vs true actions (NMI)", ratio >= MARGINS["nmi_ratio"],
                           f"NMI {la['nmi']:.3f} against a chance level of {la['nmi_chance']:.3f} ({ratio:.1f}×).",
                           "The latent actions share almost no information with the player's true actions; they "
                           "more likely describe what the player does not control (ball, opponent).",
                           more + "; or the games' actions move too few pixels at this resolution."))
    if la["few_shot_accuracy"] is not None:
        ratio = la["few_shot_accuracy"] / max(la["few_shot_chance"], 1e-9)
        shots = r["latent_actions"]["shots"]
        out.append(Verdict(f"{shots}-shot action map", ratio >= MARGINS["few_shot_ratio"],
                           f"accuracy {la['few_shot_accuracy']:.3f} against {la['few_shot_chance']:.3f} for always "
                           f"guessing the most frequent action ({ratio:.2f}×).",
                           "A map fitted on labelled transitions does no better than guessing: an agent could not "
                           "use these latent actions.", more + "."))
    return out


def markdown(r: dict, world_steps: int | None = None) -> str:
    found = verdicts(r, world_steps)
    bad = [v.figure for v in found if not v.ok]
    head = ("**Verdict: every figure is clear of its chance level or baseline.**" if not bad else
            f"**Verdict: within noise of chance or baseline: {', '.join(bad)}.**")
    return "\n".join(["## Verdict", "", head, "", *(v.markdown() for v in found)])
