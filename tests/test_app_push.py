"""What D tells G on the Train page through AppTest: the overlay toggle, step mode's buttons and slow motion."""

import io
import json
import time

import numpy as np
import pytest
from apptest_support import TINY, app, button, rerun_until, session, start, wait_for_steps
from PIL import Image

from tiny import wait_until

pytestmark = pytest.mark.usefixtures("roomy_registry")


def paused_run():
    at = app("pages/train.py", **{**TINY, "steps": "100000"})
    start(at)
    rerun_until(at, "running")
    wait_for_steps(at)
    button(at, "Pause").click().run()
    rerun_until(at, "paused")
    return at, session(at).job


def captioned(at, start: str):
    return next(i for i in at.image if i.captions and i.captions[0].startswith(start))


def shown_png(at, shot, pushed: bool) -> Image.Image:
    """The PNG the page made for this snapshot (the bytes it sent), from the session's picture cache."""
    cache = at.session_state["grid_png"]
    [png] = [png for (_, _, p, _), (s, png) in cache.items() if s is shot and p == pushed]
    return Image.open(io.BytesIO(png))


def test_the_overlay_paints_each_sample_and_writes_d_s_verdict_under_it():
    at, job = paused_run()
    plain = captioned(at, "Samples at step").proto.imgs[0].url
    at.toggle(key="train_push").set_value(True).run()
    assert captioned(at, "Samples at step").proto.imgs[0].url != plain
    assert any("G never sees a real digit" in m.value and "D's verdict" in m.value for m in at.markdown)
    shot = job.view().snapshots[-1]
    picture = np.asarray(shown_png(at, shot, pushed=True).convert("RGB")).astype(int)
    grey = np.asarray(shown_png(at, shot, pushed=False).convert("RGB")).astype(int)
    assert picture.shape[0] > grey.shape[0]  # a verdict strip under each row
    red = (picture[..., 0] - picture[..., 2] > 60).sum()
    blue = (picture[..., 2] - picture[..., 0] > 60).sum()
    assert red > 100 and blue > 100  # D asks for more ink in places and less in others
    job.stop()
    assert job.wait(10)


def test_step_mode_advances_one_update_at_a_time_and_shows_before_and_after():
    at, job = paused_run()
    assert not any(b.label in ("D step", "G step") for b in at.button if b.disabled)
    at0 = job.view().step
    button(at, "G step").click().run()
    assert job.view().step == at0 + 1 and "paused" in job.view().status_text
    assert captioned(at, "Before the G step") and captioned(at, f"After it (step {at0 + 1:,})")
    assert captioned(at, "What the G step changed")
    assert any("the way D pushed it" in c.value for c in at.caption)
    button(at, "D step").click().run()
    button(at, "D step").click().run()
    view = job.view()
    assert view.step == at0 + 1 and [n.what for n in view.nudges] == ["G step", "D step", "D step"]
    assert any("the samples are the same" in c.value for c in at.caption)
    loss = next(c for c in at.get("plotly_chart") if c.key == "chart_loss")
    notes = [a["text"] for a in json.loads(loss.proto.spec)["layout"].get("annotations", [])]
    assert "G D×2" in notes  # the chart marks the step where the student played
    button(at, "Resume").click().run()
    rerun_until(at, "running")
    assert not any(b.label == "D step" for b in at.button)  # step mode is for a paused run
    job.stop()
    assert job.wait(10)


def test_slow_motion_sets_the_pace_and_full_speed_lifts_it():
    at = app("pages/train.py", **{**TINY, "steps": "100000", "snapshot_every": "1000"})
    start(at)
    rerun_until(at, "running")
    job = session(at).job
    # The worker applies a pace between steps and publishes it with the next: on a busy machine that is after the
    # page's run has ended.
    at.toggle(key=f"slow_on_{job.name}").set_value(True).run()
    wait_until(lambda: job.view().pace == 2.0)
    at.select_slider(key=f"slow_pace_{job.name}").set_value(5.0).run()
    wait_until(lambda: job.view().pace == 5.0)
    step = job.view().step
    time.sleep(1.0)
    moved = job.view().step - step
    assert 1 <= moved <= 8  # about five steps a second (the tiny run takes thousands at full speed)
    steps = [s.step for s in job.view().snapshots]
    assert steps[-3:] == list(range(steps[-1] - 2, steps[-1] + 1))  # a snapshot every step
    at.toggle(key=f"slow_on_{job.name}").set_value(False).run()
    wait_until(lambda: job.view().pace is None)
    job.stop()
    assert job.wait(10)
