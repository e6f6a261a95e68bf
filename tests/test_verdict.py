"""Plain-language verdicts: a figure within noise of its chance level or baseline is named, with
what it means and what to try; a clear one is not."""

from __future__ import annotations

from genie_lit.evaluation.verdict import markdown, verdicts


def results(delta_psnr: float, nmi: float, few_shot: float, next_frame: float) -> dict:
    return {
        "kind": "world",
        "tokenizer": {"psnr": 33.0},
        "next_frame": {"psnr_dynamics_inferred": next_frame, "psnr_dynamics_random": next_frame - 0.5,
                       "psnr_copy_previous": 30.0},
        "rollouts": {"t": 4, "delta_psnr": delta_psnr},
        "latent_actions": {"shots": 200, "mean": {"nmi": nmi, "nmi_chance": 0.02, "few_shot_accuracy": few_shot,
                                                  "few_shot_chance": 0.3}},
    }


def test_a_world_at_chance_is_named_with_what_to_try():
    found = {v.figure: v for v in verdicts(results(delta_psnr=-0.001, nmi=0.02, few_shot=0.3, next_frame=29.0),
                                           world_steps=1500)}
    assert not found["controllability (Δ4PSNR)"].ok and not found["latent actions vs true actions (NMI)"].ok
    assert not found["200-shot action map"].ok and not found["next frame"].ok
    assert found["tokenizer"].ok and found["action effect, one step"].ok
    text = markdown(results(-0.001, 0.02, 0.3, 29.0), world_steps=1500)
    assert "within noise of chance or baseline: next frame, controllability (Δ4PSNR)" in text
    assert "--world-steps 3000" in text


def test_a_world_that_learned_gets_a_clean_verdict():
    found = verdicts(results(delta_psnr=1.6, nmi=0.3, few_shot=0.6, next_frame=31.0))
    assert all(v.ok for v in found)
    assert "every figure is clear" in markdown(results(1.6, 0.3, 0.6, 31.0))


def test_rollouts_that_lose_their_scene_get_a_verdict_and_an_old_eval_without_a_horizon_gets_none():
    r = results(delta_psnr=1.6, nmi=0.3, few_shot=0.6, next_frame=31.0)
    assert "rollout horizon" not in {v.figure for v in verdicts(r)}  # eval.json from before the horizon
    horizon = {"frames": 16, "recognisable_frames": 9, "psnr_inferred_with_partner": [20.0] * 16,
               "psnr_other_scene": [21.5] * 16}
    r["horizon"] = horizon
    found = {v.figure: v for v in verdicts(r)}["rollout horizon"]
    assert not found.ok and "9 of 16 frames" in found.says and "21.50 dB" in found.says
    r["horizon"] = {**horizon, "recognisable_frames": 16}
    assert {v.figure: v for v in verdicts(r)}["rollout horizon"].ok
