"""The Plotly figures: right traces, the equilibrium line only for probabilities, at most MAX_POINTS points a trace."""

import math

import pytest

from explorer import charts
from explorer.progress import COLUMNS


def history(n: int) -> dict[str, list[float]]:
    h = {c: [float(i) for i in range(1, n + 1)] for c in COLUMNS}
    h["d_loss"] = [1 + math.sin(i / 10) for i in range(n)]
    h["d_real"] = [0.7] * n
    h["d_fake"] = [0.3] * n
    h["g_lr"] = [2e-4] * n
    h["d_lr"] = [1e-4] * n
    return h


def test_thin_keeps_short_series_and_averages_long_ones():
    assert charts.thin([1, 2, 3], [4.0, 5.0, 6.0]) == ([1, 2, 3], [4.0, 5.0, 6.0])
    x = list(range(1, 100_001))
    y = [float(i % 2) for i in x]  # alternating 0, 1: bucket means are 0.5
    tx, ty = charts.thin(x, y, max_points=2000)
    assert len(tx) == len(ty) <= 2000
    assert tx[-1] == 100_000 and tx == sorted(tx)
    assert all(v == pytest.approx(0.5) for v in ty)


def test_smooth_follows_the_level_and_removes_noise():
    noisy = [1.0 + (0.5 if i % 2 else -0.5) for i in range(400)]
    smooth = charts.smooth(noisy)
    assert len(smooth) == 400
    assert smooth[0] == pytest.approx(0.5)  # debiased: starts at the first value, not at 0
    assert all(abs(v - 1.0) < 0.1 for v in smooth[100:])
    assert charts.smooth([]) == []


def test_loss_figure_has_raw_and_smoothed_d_and_g():
    fig = charts.loss_figure(history(50))
    assert "Loss" in fig.layout.title.text
    assert [t.name for t in fig.data] == ["D loss (raw)", "D loss (smoothed)", "G loss (raw)", "G loss (smoothed)"]
    assert list(fig.data[0].x) == list(range(1, 51))


def test_d_output_figure_draws_the_equilibrium_only_for_probabilities():
    prob = charts.d_output_figure(history(20), probabilities=True)
    assert [s.y0 for s in prob.layout.shapes] == [0.5]
    assert tuple(prob.layout.yaxis.range) == (0, 1)
    critic = charts.d_output_figure(history(20), probabilities=False)
    assert not critic.layout.shapes and "Critic" in critic.layout.title.text


def test_dynamics_figure_puts_learning_rates_on_a_second_log_axis():
    fig = charts.dynamics_figure(history(20))
    names = [t.name for t in fig.data]
    assert names == ["D gradient norm", "G gradient norm", "D learning rate", "G learning rate"]
    assert [t.yaxis or "y" for t in fig.data] == ["y", "y", "y2", "y2"]
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"


@pytest.mark.parametrize("make", [charts.loss_figure, charts.dynamics_figure,
                                  lambda h, marks: charts.d_output_figure(h, True, marks)])
def test_live_changes_are_marked_where_they_began(make):
    fig = make(history(50), [(20, "loss → Hinge"), (35, "k → 3")])
    marks = [s for s in fig.layout.shapes if s.xref == "x"]
    assert [(s.x0, s.x1) for s in marks] == [(20, 20), (35, 35)]
    assert [a.text for a in fig.layout.annotations if a.xref == "x"] == ["loss → Hinge", "k → 3"]


@pytest.mark.parametrize("make", [charts.loss_figure, charts.dynamics_figure,
                                  lambda h: charts.d_output_figure(h, True)])
def test_a_100k_step_run_draws_at_most_2000_points_per_trace(make):
    fig = make(history(100_000))
    assert all(len(t.x) <= charts.MAX_POINTS for t in fig.data)
    assert all(t.x[-1] == 100_000 for t in fig.data)


def test_an_empty_history_still_draws():
    for fig in (charts.loss_figure({}), charts.d_output_figure({}, True), charts.dynamics_figure({})):
        assert all(len(t.x) == 0 for t in fig.data)


def test_along_figure_marks_where_the_digit_changes():
    t = [0, 0.25, 0.5, 0.75, 1]
    probs = [[0.9 if d == a else 0.1 / 9 for d in range(10)] for a in (3, 3, 3, 8, 8)]
    fig = charts.along_figure(t, {"lerp": [0.5] * 5, "slerp": [0.6] * 5}, probs, "slerp", critic=False)
    names = [tr.name for tr in fig.data]
    assert names[:2] == ["D: linear (lerp)", "D: spherical (slerp)"]
    assert {n for n in names if n.startswith("P(")} == {"P(3) slerp", "P(8) slerp"}  # digits that pass 10%
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].x0 == 0.625
    assert fig.layout.annotations[0].text == "3→8"
    assert list(fig.layout.yaxis.range) == [0, 1]
    critic = charts.along_figure(t, {}, probs, "lerp", critic=True)
    assert critic.layout.yaxis.range is None and len(critic.data) == 2


def test_along_figure_draws_d_in_a_colour_no_digit_has():
    t = [0, 0.5, 1]
    probs = [[0.1] * 10 for _ in t]  # every digit passes 10%: all ten colours are on the chart
    fig = charts.along_figure(t, {"lerp": [0.5] * 3, "slerp": [0.6] * 3}, probs, "slerp", critic=False)

    def rgb(color: str) -> tuple[int, ...]:
        return tuple(int(color.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))

    d_lines = [rgb(tr.line.color) for tr in fig.data if tr.name.startswith("D:")]
    digit_lines = [rgb(tr.line.color) for tr in fig.data if tr.name.startswith("P(")]
    assert len(d_lines) == 2 and len(digit_lines) == 10
    # told apart at a glance: far from every digit's colour (the old red lay 68 from the 2's)
    assert min(sum((a - b) ** 2 for a, b in zip(d, g)) ** 0.5 for d in d_lines for g in digit_lines) > 100


def test_compare_figure_draws_one_smoothed_line_per_run():
    fig = charts.compare_figure({"Run 1": history(30), "Run 2": history(10)}, "g_loss", "G loss", "loss")
    assert [t.name for t in fig.data] == ["Run 1", "Run 2"]
    assert len(fig.data[0].x) == 30 and len(fig.data[1].x) == 10
    assert fig.data[0].line.color != fig.data[1].line.color


# ---- the quality meter's figures ------------------------------------------------------------
SERIES = {"step": [0, 100, 200], "seconds": [0.0, 4.0, 8.0], "read_as": [0.0, 0.4, 0.8],
          "looks_real": [0.0, 0.1, 0.6], "fid": [400.0, 60.0, 9.0], "fid_floor": [1.4, 1.4, 1.4],
          "variety": [0.2, 0.6, 0.8], "overlap": [0.5, 0.1, 0.4]}


def test_share_and_frechet_figures_draw_the_series_and_the_floor():
    share = charts.share_figure(SERIES, [3])
    assert [t.name for t in share.data] == ["read as a 3", "looks like a real 3",
                                            "variety vs real images (right; 1 = as varied)"]
    assert list(share.data[0].y) == [0.0, 0.4, 0.8] and list(share.data[1].y) == [0.0, 0.1, 0.6]
    assert share.layout.yaxis.tickformat == ".0%"
    assert share.data[2].yaxis == "y2" and share.layout.yaxis2.range[1] >= 2  # a ratio, on its own axis
    static = charts.share_figure({**SERIES, "variety": [2.2, 2.4, 2.3]}, [3])
    assert static.layout.yaxis2.range[1] >= 2.4 and static.layout.yaxis.range[1] <= 1.05
    fid = charts.fid_figure(SERIES)
    assert list(fid.data[1].y) == [1.4, 1.4, 1.4] and "floor" in fid.data[1].name
    assert fid.layout.yaxis.type == "log"


def test_class_figure_shows_what_is_read_as_each_digit_and_what_looks_real_inside_it():
    read_as = [0.05, 0.8, 0.0, 0.15] + [0.0] * 6
    real = [0.0, 0.6, 0.0, 0.1] + [0.0] * 6
    fig = charts.class_figure(read_as, real, [0, 1, 2, 3], step=1200)
    light, solid = fig.data
    assert list(light.x) == list("0123456789") and list(light.y[:4]) == [0.05, 0.8, 0.0, 0.15]
    assert list(solid.y[:4]) == [0.0, 0.6, 0.0, 0.1] and fig.layout.barmode == "overlay"
    colours = list(light.marker.color)
    assert colours[4] == colours[9] == "#cccccc" and len(set(colours[:4])) == 4
    assert fig.layout.shapes[0].y0 == pytest.approx(0.25)  # the fair share of four digits
    assert "at step 1,200" in fig.layout.title.text


def test_d_histogram_figure_bins_probabilities_on_0_1_and_critic_scores_freely():
    fig = charts.d_histogram_figure([0.9, 0.95], [0.1, 0.2], True, SERIES)
    real, fake, overlap = fig.data
    assert (real.type, fake.type, overlap.type) == ("histogram", "histogram", "scatter")
    assert real.xbins.size == 0.05 and fig.layout.xaxis.range == (0, 1)
    assert overlap.xaxis == "x2" and list(overlap.y) == [0.5, 0.1, 0.4]
    critic = charts.d_histogram_figure([5.0, 7.0], [-3.0, -1.0], False, SERIES)
    assert critic.data[0].xbins.size is None and critic.layout.xaxis.range is None


def test_the_first_reading_spans_the_step_axis_from_0_to_the_run_and_later_ones_autorange():
    first = {k: v[:1] for k, v in SERIES.items()}  # one reading, at step 0
    for fig, axis in ((charts.share_figure(first, [3], upto=262), "xaxis"),
                      (charts.fid_figure(first, upto=262), "xaxis"),
                      (charts.d_histogram_figure([0.9], [0.1], True, first, upto=262), "xaxis2")):
        assert fig.layout[axis].range == (0, 262)
    assert charts.share_figure(SERIES, [3], upto=262).layout.xaxis.range is None
    assert charts.d_histogram_figure([0.9], [0.1], True, SERIES, upto=262).layout.xaxis2.range is None
