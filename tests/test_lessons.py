"""Failure-mode lessons: their setups, their fixes, and the diagnosis that names what a run is doing.

Whether each lesson's failure really happens takes minutes of training per lesson; `python -m explorer
lessons` checks that (the README records its result). Here: the presets load and train, and the
diagnosis reads known histories right.
"""

import pytest
import torch

from explorer import diagnosis, lessons
from explorer.app import form_values
from explorer.config import Budget, ConfigError, differences
from explorer.progress import Status
from explorer.quality import Reading
from explorer.trainer import Trainer


def test_there_are_the_five_lessons_the_issue_names():
    assert set(lessons.LESSONS) == {"healthy", "collapse", "saturation", "lr-too-high", "small-g"}
    for lesson in lessons.LESSONS.values():
        assert lesson.title and lesson.summary and len(lesson.watch) > 200
        assert lesson.expect in {"healthy", "collapse", "d_wins", "exploding", "stalled"}


@pytest.mark.parametrize("name", [n for n, lesson in lessons.LESSONS.items() if lesson.fix])
def test_the_fix_changes_exactly_its_settings(name):
    lesson = lessons.get(name)
    changed = differences({"lesson": lesson.config(), "fix": lesson.fixed_config()})
    assert set(changed) == set(lesson.fix)
    assert lesson.fix_text and all(form_values.label(k) in form_values.LABELS.values() for k in lesson.fix)


@pytest.mark.parametrize("name", list(lessons.LESSONS))
def test_each_lesson_and_its_fix_loads_and_trains(name, digits):
    lesson = lessons.get(name)
    configs = [lesson.config()] + ([lesson.fixed_config()] if lesson.fix else [])
    for cfg, expect in zip(configs, [lesson.expect, lesson.fixed_expect]):
        trainer = Trainer(cfg, digits, measure=True)
        assert trainer.run(Budget("steps", 20)) == Status.FINISHED
        state = trainer.state()
        assert state.step == 20 and state.readings[-1].step == 20
        d = diagnosis.diagnose(state.history.columns(), state.readings, cfg.digits, cfg.loss)
        # Twenty steps in, nothing has shown yet: neither the lesson's failure nor the fix's health (`check`
        # trains them long enough to see it), and the caption quotes the reading it judged.
        assert d.kind != expect, f"{name}: {d.kind} after 20 steps"
        assert f"{state.readings[-1].looks_real:.0%} look like" in d.detail


def test_unknown_lesson_is_a_clear_error():
    with pytest.raises(ConfigError, match="lesson"):
        lessons.get("nope")


# ---- the diagnosis on known histories ----------------------------------------------------
def history(n=40, **values):
    base = dict(step=list(range(10, 10 * n + 1, 10)), g_loss=[1.0] * n, d_loss=[1.2] * n, d_real=[0.7] * n,
                d_fake=[0.4] * n, g_grad=[1.0] * n)
    base.update({k: [v] * n for k, v in values.items()})
    return base


def reading(real=0.9, fid=10.0, histogram=None, seconds=10.0, variety=0.8, step=400, read_as=None) -> Reading:
    """A meter reading where `real` of the samples look like real digits (and, unless said, as many read as one)."""
    histogram = histogram or [0.0, 0.0, 0.0, real] + [0.0] * 6
    return Reading(step=step, seconds=seconds, read_as=real if read_as is None else read_as, looks_real=real,
                   histogram=histogram, looks_real_histogram=histogram, fid=fid, fid_floor=1.4,
                   variety=variety, overlap=0.4, d_real=torch.zeros(4), d_fake=torch.zeros(4), probabilities=True)


def test_diagnosis_of_a_healthy_run_says_so_with_its_numbers():
    d = diagnosis.diagnose(history(), [reading()], [3], "nonsaturating")
    assert d.kind == "healthy" and "At step 400, 90% of samples read as a 3 and 90% look like a real 3" in d.detail
    assert "1.4" in d.detail and "training batches" in d.detail and "evaluation mode" in d.detail


def test_diagnosis_of_d_winning_names_the_vanishing_gradient_for_minimax():
    h = history(d_real=0.99, d_fake=0.01, g_grad=0.02)
    d = diagnosis.diagnose(h, [reading(real=0.0, fid=500)], [3], "minimax")
    assert d.kind == "d_wins" and "vanishes" in d.detail
    assert "vanishes" not in diagnosis.diagnose(h, [reading(real=0.0)], [3], "nonsaturating").detail
    # a critic's scores are not probabilities: the same numbers mean nothing there
    assert diagnosis.diagnose(h, [reading(real=0.0)], [3], "wgan-gp").kind != "d_wins"


def test_diagnosis_of_exploding_and_of_collapse():
    d = diagnosis.diagnose(history(g_loss=2e4, g_grad=1e4), [reading(real=0.0)], [3], "nonsaturating")
    assert d.kind == "exploding" and "20,000" in d.detail
    ones = reading(real=0.7, histogram=[0.0, 0.7] + [0.0] * 8)
    d = diagnosis.diagnose(history(), [ones], [0, 1, 2, 3], "nonsaturating")
    assert d.kind == "collapse" and "0, 2 and 3" in d.detail


def test_each_diagnosis_has_one_plain_sentence_for_a_class():
    """Presenter mode says only `plain`: no chart jargon or distances, and the grid's own story."""
    cases = [
        diagnosis.diagnose(history(), [reading()], [3], "nonsaturating"),  # healthy
        diagnosis.diagnose(history(g_loss=2e4, g_grad=1e4), [reading(real=0.0)], [3], "nonsaturating"),  # exploding
        diagnosis.diagnose(history(), [reading(real=0.7, histogram=[0.0, 0.7] + [0.0] * 8)], [0, 1, 2, 3],
                         "nonsaturating"),  # collapse
        diagnosis.diagnose(history(d_real=0.99, d_fake=0.01), [reading(real=0.0, fid=500)], [3], "minimax"),  # D wins
        diagnosis.diagnose({}, [], [3], "nonsaturating"),  # starting
    ]
    assert [d.kind for d in cases] == ["healthy", "exploding", "collapse", "d_wins", "starting"]
    for d in cases:
        assert d.plain and d.plain.count(". ") <= 1 and "Fréchet" not in d.plain and "evaluation" not in d.plain, d
    assert "90% of the samples look like real 3s" in cases[0].plain
    assert cases[2].plain.startswith("G now draws only 1s; 0, 2 and 3 have vanished")  # what the grid shows
    # learning: in the words of the grid beside it, before the meter can call a grid of 1s collapse
    ones = reading(real=0.2, read_as=0.98, histogram=[0.02, 0.9, 0.04, 0.04] + [0.0] * 6)
    d = diagnosis.diagnose(history(), [ones], [0, 1, 2, 3], "nonsaturating")
    assert d.kind == "learning" and "mostly 1s (90%)" in d.plain and "20% look real" in d.plain
    noise = diagnosis.diagnose(history(), [reading(real=0.0, read_as=0.01)], [3], "nonsaturating")
    assert noise.plain == "G still draws noise: hardly any sample reads as a 3 yet."


def test_diagnosis_of_a_stalled_run_and_of_the_start():
    flat = [reading(real=0.1, fid=300, seconds=s) for s in (10, 20, 30, 45)]
    assert diagnosis.diagnose(history(), flat, [3], "nonsaturating").kind == "stalled"
    improving = [reading(real=0.1 * i, fid=300 / i, seconds=10 * i) for i in range(1, 5)]
    assert diagnosis.diagnose(history(), improving, [3], "nonsaturating").kind == "learning"
    assert diagnosis.diagnose({}, [], [3], "nonsaturating").kind == "starting"


def test_seen_replays_the_run_and_needs_two_readings_in_a_row():
    h = history(n=100)  # steps 10, 20, ..., 1000; D wins from step 300 on
    h["d_real"] = [0.7 if s < 300 else 0.99 for s in h["step"]]
    h["d_fake"] = [0.4 if s < 300 else 0.01 for s in h["step"]]
    steps = [250, 400, 600, 1000]
    readings = [reading(real=0.0, fid=500, step=s, seconds=s / 10) for s in steps]
    # the reading at 400 judges steps 151-400, which still mix both; 600 and 1000 are the first two in a row
    assert lessons.seen("d_wins", h, readings, [3], "minimax") == 1000
    assert lessons.seen("d_wins", h, readings, [3], "minimax", times=1) == 600
    assert lessons.seen("exploding", h, readings, [3], "minimax") is None


def test_a_run_that_went_bad_after_a_live_change_is_not_called_healthy():
    from explorer.progress import Change

    good = [reading(real=0.9, fid=f, step=s) for s, f in ((1000, 20.0), (1500, 11.0), (2000, 10.0))]
    drifting = good + [reading(real=0.85, fid=14.0, step=2500), reading(real=0.84, fid=14.8, step=3000)]
    change = Change(1500, "G lr → 0.005", {"g_lr": 5e-3})
    d = diagnosis.diagnose(history(n=300), drifting, [3], "nonsaturating", [change])
    assert d.kind == "worsening" and "up from 10.0 at step 2,000" in d.detail
    assert "G lr → 0.005, at step 1,500" in d.detail
    assert diagnosis.diagnose(history(n=300), good + good[-1:], [3], "nonsaturating").kind == "healthy"
    once = good + [reading(real=0.85, fid=14.8, step=2500), reading(real=0.9, fid=10.5, step=3000)]
    assert diagnosis.diagnose(history(n=300), once, [3], "nonsaturating").kind == "healthy"  # one bad reading is noise
    h = history(n=300)
    h["g_loss"] = [1.0 if s <= 2750 else 2.9 for s in h["step"]]  # G's loss climbs as D pulls ahead
    d = diagnosis.diagnose(h, good, [3], "nonsaturating", [change])
    assert d.kind == "worsening" and "G's loss is 2.90" in d.detail and "up from 1.00" in d.detail
