"""The Train page's live figures from a job's view (explorer/app/live_charts.py), without Streamlit."""

import pytest

from explorer import charts
from explorer.app import live_charts
from explorer.app.jobs import JobSpec
from explorer.app.limits import Limits
from explorer.app.threads import ThreadBackend
from explorer.config import Budget
from explorer.progress import Change
from tiny import tiny

pytestmark = pytest.mark.usefixtures("warm_meter")  # as the server: its first job does not load the meter


def test_a_measured_runs_view_draws_every_live_chart(digits):
    backend = ThreadBackend(Limits(max_jobs=1), watch_every=None, set_threads=False, data=digits)
    job = backend.submit(JobSpec(tiny(), Budget("steps", 20), name="run"))
    assert job.wait(60)
    figures = live_charts.figures(job.view(), job.cfg)
    assert set(figures) == {*live_charts.TRAINING, *live_charts.METER}
    loss = figures["chart_loss"]
    assert loss.data[0].x[-1] == 20  # drawn up to the last step
    share = figures["chart_share"]
    assert [t.name for t in share.data][:2] == ["read as a 3", "looks like a real 3"]


def test_without_readings_only_the_training_charts_are_drawn(digits):
    backend = ThreadBackend(Limits(max_jobs=1), watch_every=None, set_threads=False, data=digits)
    job = backend.submit(JobSpec(tiny(), Budget("steps", 5), name="run", measure=False))
    assert job.wait(60)
    assert set(live_charts.figures(job.view(), job.cfg)) == set(live_charts.TRAINING)


def test_step_mode_marks_each_step_once_with_what_was_updated():
    nudges = [Change(4, "D step"), Change(4, "D step"), Change(4, "D step"), Change(5, "G step"),
              Change(5, "D step")]
    assert live_charts.nudge_marks(nudges) == [(4, "D×3"), (5, "G D")]
    history = {"step": [1, 2, 3, 4, 5], "d_loss": [1.0] * 5, "g_loss": [1.0] * 5}
    figure = charts.loss_figure(history, [(2, "loss → Hinge")], live_charts.nudge_marks(nudges))
    texts = [(a.text, a.x, a.y) for a in figure.layout.annotations]
    assert texts == [("loss → Hinge", 2, 1), ("D×3", 4, 0), ("G D", 5, 0)]  # changes on top, nudges below
    assert [s.line.dash for s in figure.layout.shapes] == ["dash", "dot", "dot"]
