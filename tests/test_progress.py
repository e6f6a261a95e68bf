"""``StepProgress``: the plain progress line with an ETA that step-defined runs print."""

from __future__ import annotations

from genie_lit.callbacks.progress import StepProgress, format_duration


def test_format_duration():
    assert format_duration(0) == "0 s"
    assert format_duration(75) == "1 min 15 s"
    assert format_duration(4000) == "1 h 06 min"


def test_the_eta_is_the_measured_pace_times_the_steps_left():
    progress = StepProgress(label="world", every_n_steps=10)
    progress._start_step = 100  # resumed at step 100: the pace counts this process's steps only
    line = progress.line(step=300, max_steps=1100, elapsed=200.0)
    assert line == "[world] step 300/1100 · 1.00 s/step · ETA 13 min 20 s"
    pipeline = StepProgress(label="tokenizer", after_steps=600)
    assert pipeline.line(step=50, max_steps=100, elapsed=25.0).endswith(
        "ETA 25 s (all stages: about 5 min 25 s)")
    assert StepProgress().line(step=5, max_steps=-1, elapsed=10.0) == "[fit] step 5 · 2.00 s/step"
