"""The Train page's teaching parts through AppTest: the quality meter, the lessons and their fix, presenter mode."""

import pytest
from apptest_support import TINY, app, button, rerun_until, session, wait_for_steps

from explorer import lessons

pytestmark = pytest.mark.usefixtures("roomy_registry")


def chart_keys(at) -> set[str]:
    return {c.key for c in at.get("plotly_chart")}


def stop(at):
    job = session(at).job
    job.stop()
    assert job.wait(15)


def test_the_quality_meter_charts_a_tiny_run():
    at = app("pages/train.py", **TINY)
    button(at, "Start training").click().run()
    rerun_until(at, "finished")
    assert {"chart_share", "chart_fid", "chart_classes", "chart_dhist"} <= chart_keys(at)
    readings = session(at).job.view().readings
    assert readings[0].step == 0 and readings[-1].step == 30
    captions = [m.value for m in at.markdown if m.value.startswith(("**Now:", "**How it ended:"))]
    assert len(captions) == 1 and captions[0].startswith("**How it ended:")  # what the run did as it ended
    run = session(at).current
    assert run.readings and run.meta["quality"]["step"] == 30


def test_a_lesson_starts_in_one_click_and_try_the_fix_changes_only_its_settings():
    at = app("pages/train.py")
    lesson = lessons.get("lr-too-high")
    button_key = f"lesson_{lesson.name}"
    next(b for b in at.button if b.key == button_key).click().run()
    job = session(at).job
    assert job.lesson == lesson.name and job.cfg == lesson.config() and job.budget == lesson.budget
    rerun_until(at, "running")
    wait_for_steps(at)
    at.run()
    text = " ".join(m.value for m in at.markdown)
    assert f"Lesson: {lesson.title}" in text and "Gradient norms" in text and "**Now:" in text
    fix = next(b for b in at.button if b.key == "try_fix")
    assert "learning rate → 5e-4" in fix.label
    fix.click().run()
    fixed = session(at).job
    assert fixed is not job and job.done and fixed.fix_of == job.name and fixed.lesson == lesson.name
    assert fixed.name.endswith("(the fix)") and fixed.cfg == lesson.fixed_config()
    assert [r.name for r in session(at).runs] == [job.name]  # the failed run is kept for comparing
    assert "the fix" in " ".join(m.value for m in at.markdown)
    wait_for_steps(at)  # a run stopped before its first step is not kept
    stop(at)
    at.switch_page("pages/runs.py").run()
    table = at.table[0].value
    assert sorted(table["setting"]) == ["Discriminator learning rate", "Generator learning rate"]


def test_a_lesson_link_fills_the_form_and_a_bad_one_warns():
    at = app("pages/train.py", lesson="collapse")
    assert not at.warning
    assert at.session_state["setup_digits"] == ["0", "1", "2", "3"]
    assert at.session_state["setup_d_lr"] == 1e-3 and at.session_state["setup_length_amount"] == 3000
    at = app("pages/train.py", lesson="nope")
    assert "lesson: 'nope' is not one of" in at.warning[0].value


def markdown(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_a_lesson_link_names_its_lesson_and_starts_it_in_one_click():
    at = app("pages/train.py", lesson="Collapse")  # not case-sensitive
    lesson = lessons.get("collapse")
    assert "Lesson: Mode collapse" in markdown(at) and "**What to watch:**" in markdown(at)
    assert "The fix" not in markdown(at) and lesson.fix_text not in markdown(at)  # not given away before the run
    assert "Set up by the lesson **Mode collapse**" in " ".join(c.value for c in at.caption)
    assert "press **Start this lesson**" in at.info[0].value  # nothing runs until the teacher presses Start
    assert next(e for e in at.expander if e.label == "Setup").proto.expanded
    button(at, "Start this lesson").click().run()
    job = session(at).job
    assert job is not None and job.lesson == "collapse" and job.cfg == lesson.config()
    assert not any(b.label == "Start this lesson" for b in at.button)  # the card made way for the run's
    assert not next(e for e in at.expander if e.label == "Setup").proto.expanded  # the setup folded away
    params = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert params["lesson"] == "collapse" and "preset" not in params  # the address is the lesson's link
    stop(at)
    button(at, "Reset").click().run()
    assert next(e for e in at.expander if e.label == "Setup").proto.expanded  # back to setting up


def test_a_lesson_link_in_presenter_mode_shows_the_card_and_no_title():
    at = app("pages/train.py", lesson="saturation", present="1")
    assert not at.title and "Lesson: D overpowers G" in markdown(at)
    button(at, "Start this lesson").click().run()
    assert session(at).job.lesson == "saturation"
    stop(at)


def test_a_share_link_made_from_a_lesson_keeps_the_lesson():
    at = app("pages/train.py", lesson="small-g")
    button(at, "Make a share link").click().run()
    link = at.code[0].value
    assert "lesson=small-g" in link and "preset=" not in link
    opened = app("pages/train.py", **dict(p.split("=") for p in link.split("?")[1].split("&")))
    assert "Lesson: Generator too small" in markdown(opened)


def test_home_runs_a_lesson_straight_away():
    at = app()
    next(b for b in at.button if b.key == "home_lesson_small-g").click().run()
    assert at.title[0].value == "Train a GAN"
    job = session(at).job
    assert job.lesson == "small-g" and job.cfg.g_layers == []
    stop(at)


def test_presenter_flag_hides_the_controls_and_shows_the_big_caption():
    at = app("pages/train.py", **{**TINY, "steps": "100000", "present": "1"})
    assert at.toggle(key="presenter").value is True
    button(at, "Start training").click().run()
    wait_for_steps(at)
    at.run()
    labels = {b.label for b in at.button}
    assert "Apply now" not in labels and {"Pause", "Resume", "Stop", "Reset"} <= labels  # the run's own buttons stay
    assert not any(s.label == "Scrub through training" for s in at.select_slider)
    # "what is happening now", in large type: the headline and one plain sentence
    assert any(m.value.startswith("### Now: ") for m in at.markdown), [m.value for m in at.markdown]
    assert not [e for e in at.expander if e.label == "Setup"]  # a running run's setup takes no room on the projector
    assert not at.title  # nor the page's title and intro
    button(at, "Pause").click().run()  # a teacher pauses to explain
    assert session(at).job.paused
    at.toggle(key="presenter").set_value(False).run()
    assert {"Pause", "Stop"} <= {b.label for b in at.button}
    assert "present" not in at.query_params
    stop(at)


@pytest.mark.parametrize("flag", ["0", "banana"])
def test_presenter_flag_off_or_garbage_leaves_the_controls(flag):
    at = app("pages/train.py", present=flag)
    assert at.toggle(key="presenter").value is False
    assert not at.warning  # not a setup parameter: no "unknown setting" warning


def test_on_pause_every_figure_is_read_at_the_runs_step_and_nothing_counts_down():
    at = app("pages/train.py", **{**TINY, "steps": "100000", "snapshot_every": "1000"})
    button(at, "Start training").click().run()
    rerun_until(at, "running")
    wait_for_steps(at)
    button(at, "Pause").click().run()
    rerun_until(at, "paused")
    view = session(at).job.view()
    step = view.step
    assert view.snapshots[-1].step == step and view.readings[-1].step == step  # taken as it paused
    caption = next(m.value for m in at.markdown if m.value.startswith("**Paused:"))
    assert f"At step {step:,}," in caption
    grid = next(i for i in at.image if i.captions and i.captions[0].startswith("Samples at step"))
    assert grid.captions[0].startswith(f"Samples at step {step:,}:")
    line = at.get("progress")[0].proto.text
    assert line.startswith(f"Paused at step {step:,}") and "images/s" not in line and "left" not in line
    stop(at)
