"""Plotly figures of a training history (the dict of columns from `Progress.history.columns()`) and of the
quality meter's readings.

Each trace is thinned to at most `MAX_POINTS` points by averaging neighbouring rows, so a
100,000-step run draws as fast as a short one.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.colors import qualitative

MAX_POINTS = 600  # a live chart is about 600 px wide: more points cost the page time (and JSON) and show nothing
G_COLOR, D_COLOR, REAL_COLOR = "#1f77b4", "#d62728", "#2ca02c"
DIGIT_COLORS = qualitative.T10  # ten distinct colours, one per digit
ALONG_D_COLOR = "#222222"  # D's verdict beside the ten digit colours (along_figure)
HEIGHT = 340
# A log axis labelled in full at 1, 2 and 5 of each decade (plotly's "D2" writes 500 as a small "5").
LOG_AXIS = dict(type="log", tickmode="array", tickvals=[m * 10.0**e for e in range(-4, 6) for m in (1, 2, 5)],
                tickformat="~g")


def thin(x: list[float], y: list[float], max_points: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """At most `max_points` points: each is the mean of a bucket of rows, at the bucket's last x."""
    n = min(len(x), len(y))
    if n <= max_points:
        return list(x[:n]), list(y[:n])
    size = math.ceil(n / max_points)
    xs, ys = [], []
    for start in range(0, n, size):
        bucket = y[start:start + size]
        xs.append(x[min(start + size, n) - 1])
        ys.append(sum(bucket) / len(bucket))
    return xs, ys


def smooth(values: list[float], window: int | None = None) -> list[float]:
    """Exponential moving average, debiased at the start; `window` rows (default: 1/20 of the run)."""
    if not values:
        return []
    window = window or max(5, min(100, len(values) // 20))
    alpha = 2 / (window + 1)
    out, avg, weight = [], 0.0, 0.0
    for v in values:
        avg = (1 - alpha) * avg + alpha * v
        weight = (1 - alpha) * weight + alpha
        out.append(avg / weight)
    return out


def _figure(traces: list[dict], title: str, y_title: str, marks=(), nudges=(), **layout) -> go.Figure:
    """One figure, built in one pass (plotly's update_* calls cost more than the data). `marks`: (step, text)
    pairs, drawn as labelled vertical lines (the live changes made during a run), labelled at the top;
    `nudges`: (step, text) pairs of step mode's lone updates, dotted and labelled at the bottom, so the two
    kinds never cover each other's labels."""
    base = dict(title=dict(text=title, x=0, xanchor="left"), height=HEIGHT, margin=dict(l=10, r=10, t=40, b=10),
                legend=dict(orientation="h", yanchor="top", y=-0.25, x=0), hovermode="x unified",
                uirevision="keep",  # zoom and legend clicks survive the live redraws
                xaxis=dict(title=dict(text="step")), yaxis=dict(title=dict(text=y_title)))
    for key, value in layout.items():
        base[key] = {**base[key], **value} if isinstance(base.get(key), dict) else value
    xs = [x for t in traces for x in t.get("x", ()) if isinstance(x, (int, float))]  # a step axis, not a bar chart's
    xs += [step for pairs in (marks, nudges) for step, _ in pairs]
    for pairs, dash, top in ((marks, "dash", True), (nudges, "dot", False)):
        for (step, text), (anchor, row) in zip(pairs, _label_places(pairs, min(xs, default=0), max(xs, default=1))):
            base.setdefault("shapes", []).append(dict(type="line", xref="x", x0=step, x1=step, yref="paper", y0=0,
                                                      y1=1, line=dict(color="#7f7f7f", width=1, dash=dash)))
            base.setdefault("annotations", []).append(
                dict(text=text, xref="x", x=step, xanchor=anchor, yref="paper", y=1 if top else 0,
                     yanchor="top" if top else "bottom", yshift=(-row if top else row) * LABEL_ROW_PX, showarrow=False,
                     font=dict(color="#7f7f7f"), bgcolor="rgba(255,255,255,0.8)"))
    # Built from plain values known to be valid: plotly's validation would cost more than everything else
    # here, once a second per watching session.
    return go.Figure(data=traces, layout=base, _validate=False)


LABEL_ROW_PX = 18  # a mark's label that would cover another's moves this far in, a row further from the edge
PLOT_PX, CHAR_PX = 520, 7.5  # the narrowest a chart's plot is drawn, and how wide a label's character is on it


def _label_places(pairs, lo: float, hi: float) -> list[tuple[str, int]]:
    """Where each mark's label goes, in the order of `pairs`: its xanchor (right of its line, or left of it near the
    chart's right edge, where it would be cut off) and its row, the first where it covers no other label. Without
    rows, a D step and the G step after it (marks one step apart) would write "D" and "G" on top of each other."""
    per_px = max(hi - lo, 1e-9) / PLOT_PX
    ends: list[float] = []  # per row, where its rightmost label ends
    places = [("left", 0)] * len(pairs)
    spans = []
    for i, (step, text) in enumerate(pairs):
        width = (len(str(text)) * CHAR_PX + 8) * per_px
        right_edge = step + width > hi
        spans.append((step - width if right_edge else step, step if right_edge else step + width, i, right_edge))
    for start, end, i, right_edge in sorted(spans):
        row = next((r for r, e in enumerate(ends) if e < start), len(ends))
        ends[row:row + 1] = [end]
        places[i] = ("right" if right_edge else "left", row)
    return places


def _line(x, y, name, color, width=2.0, opacity=1.0, dash=None, digits: int | None = 5, mode="lines",
          **kwargs) -> dict:
    """A line trace of plain numbers (JSON arrays in the browser), `y` rounded to `digits` decimals."""
    x, y = thin(x, y)
    if digits is not None:
        y = [round(v, digits) for v in y]
    return dict(type="scatter", x=list(x), y=list(y), name=name, mode=mode, opacity=opacity,
                line=dict(color=color, width=width, dash=dash), **kwargs)


def loss_figure(history: dict[str, list[float]], marks=(), nudges=()) -> go.Figure:
    """D and G loss per step, faint raw lines under bold smoothed ones."""
    steps, traces = history.get("step", []), []
    for key, name, color in (("d_loss", "D loss", D_COLOR), ("g_loss", "G loss", G_COLOR)):
        values = history.get(key, [])
        traces.append(_line(steps, values, f"{name} (raw)", color, width=1, opacity=0.3, legendgroup=key))
        traces.append(_line(steps, smooth(values), f"{name} (smoothed)", color, legendgroup=key))
    return _figure(traces, "Loss of D and G", "loss", marks, nudges)


def d_output_figure(history: dict[str, list[float]], probabilities: bool, marks=(), nudges=()) -> go.Figure:
    """Mean D(x) on real images and D(G(z)) on fakes; the 0.5 equilibrium line when they are probabilities."""
    steps = history.get("step", [])
    traces = [_line(steps, history.get("d_real", []), "D(x): real images", REAL_COLOR),
              _line(steps, history.get("d_fake", []), "D(G(z)): fakes", G_COLOR)]
    if not probabilities:
        return _figure(traces, "Critic scores, real and fake", "mean score (higher = more real)", marks, nudges)
    line = dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=0.5, y1=0.5, line=dict(color="gray", dash="dot"))
    note = dict(text="equilibrium 0.5", xref="paper", x=1, xanchor="right", yref="y", y=0.5, yanchor="top",
                showarrow=False, font=dict(color="gray"), bgcolor="rgba(255,255,255,0.8)")  # readable over lines
    return _figure(traces, "D's verdicts: P(real), real and fake", "mean D output", marks, nudges,
                   yaxis=dict(range=[0, 1]), shapes=[line], annotations=[note])


def dynamics_figure(history: dict[str, list[float]], marks=(), nudges=()) -> go.Figure:
    """Gradient norms (left, log scale) and learning rates (right, log scale, dashed)."""
    steps, traces = history.get("step", []), []
    for key, name, color in (("d_grad", "D gradient norm", D_COLOR), ("g_grad", "G gradient norm", G_COLOR)):
        traces.append(_line(steps, history.get(key, []), name, color, width=1.5))
    for key, name, color in (("d_lr", "D learning rate", D_COLOR), ("g_lr", "G learning rate", G_COLOR)):
        traces.append(_line(steps, history.get(key, []), name, color, width=1.5, dash="dash", yaxis="y2",
                            digits=None))
    lrs = [v for key in ("d_lr", "g_lr") for v in history.get(key, []) if v > 0]
    lr_range = [math.log10(min(lrs)) - 0.5, math.log10(max(lrs)) + 0.5] if lrs else None
    return _figure(traces, "Gradient norms and learning rates", "gradient norm", marks, nudges,
                   yaxis=LOG_AXIS,
                   yaxis2=dict(type="log", dtick="D2", overlaying="y", side="right", showgrid=False,
                               tickformat=".0e", range=lr_range, title=dict(text="learning rate")))


def along_figure(t: list[float], d_scores: dict[str, list[float]], probabilities: list[list[float]],
                 probability_label: str, critic: bool) -> go.Figure:
    """Along an interpolation: D's score for each mode (left axis) and the digit reader's probability of each
    digit that ever passes 10% (right axis), with a dotted line where the digit read changes identity."""
    # D in near-black here, not D_COLOR: the digits take all ten T10 colours, and D's red would pass for the 2's.
    modes = {"lerp": ("D: linear (lerp)", "dot"), "slerp": ("D: spherical (slerp)", None)}
    traces = [_line(t, scores, modes[m][0], ALONG_D_COLOR, dash=modes[m][1], width=3) for m, scores in d_scores.items()]
    read = [max(range(10), key=row.__getitem__) for row in probabilities]
    shown = [d for d in range(10) if max(row[d] for row in probabilities) >= 0.1]
    for d in shown:
        traces.append(_line(t, [row[d] for row in probabilities], f"P({d}) {probability_label}", DIGIT_COLORS[d],
                            width=1.5, yaxis="y2"))
    changes = [dict(type="line", xref="x", x0=(t[i - 1] + t[i]) / 2, x1=(t[i - 1] + t[i]) / 2, yref="paper", y0=0,
                    y1=1, line=dict(color="gray", dash="dot")) for i in range(1, len(read)) if read[i] != read[i - 1]]
    labels = [dict(text=f"{read[i - 1]}→{read[i]}", xref="x", x=(t[i - 1] + t[i]) / 2, yref="paper", y=1,
                   yanchor="bottom", showarrow=False, font=dict(color="gray"))
              for i in range(1, len(read)) if read[i] != read[i - 1]]
    y_title = "critic score" if critic else "D(G(z)): P(real)"
    return _figure(traces, "Along the path: D's verdict and the digit read", y_title,
                   xaxis=dict(title=dict(text="fraction of the way from A to B"), range=[0, 1]),
                   yaxis=dict(range=None if critic else [0, 1]),
                   yaxis2=dict(range=[0, 1], overlaying="y", side="right", showgrid=False,
                               title=dict(text="probability read as")),
                   shapes=changes, annotations=labels, hovermode="x")


def compare_figure(histories: dict[str, dict[str, list[float]]], key: str, title: str, y_title: str,
                   smoothed: bool = True, **layout) -> go.Figure:
    """One line of `key` per run (smoothed, unless the points are few readings), one colour per run."""
    traces = [_line(h.get("step", []), smooth(h.get(key, [])) if smoothed else h.get(key, []), name,
                    DIGIT_COLORS[i % len(DIGIT_COLORS)], mode="lines" if smoothed else "lines+markers")
              for i, (name, h) in enumerate(histories.items())]
    return _figure(traces, title, y_title, **layout)


def digits_compare_figure(histograms: dict[str, list[float]], digits: list[int], steps: dict[str, int]) -> go.Figure:
    """The digits each run draws (the share of samples read as each chosen digit), side by side: the mode-collapse
    meter for a comparison. `steps`: the step each run's reading was taken at."""
    bars = [dict(type="bar", name=f"{name} (step {steps[name]:,})", x=[str(d) for d in digits],
                 y=[round(hist[d], 4) for d in digits], marker=dict(color=DIGIT_COLORS[i % len(DIGIT_COLORS)]),
                 hovertemplate="%{x}: %{y:.0%}<extra>" + name + "</extra>")
            for i, (name, hist) in enumerate(histograms.items())]
    fair = 1 / len(digits)
    line = dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=fair, y1=fair, line=dict(color="gray", dash="dot"))
    return _figure(bars, "Digits drawn (mode collapse): share of samples read as each", "share of samples",
                   barmode="group", xaxis=dict(title=dict(text="digit read"), type="category"),
                   yaxis=dict(range=[0, 1], tickformat=".0%"), shapes=[line], hovermode="closest")


# ---- the live quality meter (explorer.quality readings) --------------------------------------
def _first_reading_range(steps: list[float], upto: int) -> list[float] | None:
    """With one reading, plotly centres the step axis on it (-1 to 1 for step 0): span 0 to the run's step
    instead. From the second reading on, autorange, so a user's zoom survives the live redraws."""
    return [0, max(upto, *steps, 1)] if len(set(steps)) < 2 else None


def share_figure(series: dict[str, list[float]], digits: list[int], upto: int = 0) -> go.Figure:
    """Over steps: the share of samples read as the chosen digits, the share that looks like real ones, and
    their variety against real images."""
    steps = series.get("step", [])
    which, real = (f"a {digits[0]}", f"a real {digits[0]}") if len(digits) == 1 else ("a chosen digit", "a real one")
    traces = [_line(steps, series.get("read_as", []), f"read as {which}", G_COLOR, mode="lines+markers"),
              _line(steps, series.get("looks_real", []), f"looks like {real}", D_COLOR, mode="lines+markers"),
              _line(steps, series.get("variety", []), "variety vs real images (right; 1 = as varied)", REAL_COLOR,
                    width=1.5, dash="dash", mode="lines+markers", yaxis="y2")]
    # Variety is a ratio, not a share (static is twice as varied as real digits): its own axis, 1 in the middle.
    top = max([2.0, *series.get("variety", [])]) * 1.05
    return _figure(traces, "Read as, looks real, and variety", "share of samples",
                   xaxis=dict(range=_first_reading_range(steps, upto)), yaxis=dict(range=[0, 1.05], tickformat=".0%"),
                   yaxis2=dict(range=[0, top], overlaying="y", side="right", showgrid=False,
                               title=dict(text="variety (1 = as real digits)")))


def fid_figure(series: dict[str, list[float]], upto: int = 0) -> go.Figure:
    """Fréchet distance to real images over steps (log scale), with the real-vs-real floor."""
    steps = series.get("step", [])
    traces = [_line(steps, series.get("fid", []), "Fréchet distance: samples to real", D_COLOR, mode="lines+markers"),
              _line(steps, series.get("fid_floor", []), "floor: real to real", "gray", width=1.5, dash="dot")]
    return _figure(traces, "Fréchet distance (lower is better)", "distance (log scale)",
                   xaxis=dict(range=_first_reading_range(steps, upto)),
                   yaxis=LOG_AXIS)


def class_figure(read_as: list[float], looks_real: list[float], digits: list[int],
                 step: int | None = None) -> go.Figure:
    """The mode-collapse meter: for each digit, the share of samples read as it (light) and, inside that bar, the
    share that also looks like a real one (solid), with the chosen digits' fair share dotted. Chosen digits in
    colour, the others grey. So a grid of clear but grey-backgrounded 3s shows a tall light bar at 3, not
    "unsure"."""
    fair = 1 / len(digits)
    colours = [DIGIT_COLORS[d] if d in digits else "#cccccc" for d in range(10)]
    common = dict(type="bar", x=[str(d) for d in range(10)], marker=dict(color=colours))
    bars = [dict(y=[round(v, 4) for v in read_as], name="read as it", opacity=0.35,
                 hovertemplate="%{x}: %{y:.0%} read as it<extra></extra>", **common),
            dict(y=[round(v, 4) for v in looks_real], name="looks like a real one (solid)", width=0.5,
                 hovertemplate="%{x}: %{y:.0%} look like a real one<extra></extra>", **common)]
    line = dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=fair, y1=fair, line=dict(color="gray", dash="dot"))
    note = dict(text=f"fair share {fair:.0%}", xref="paper", x=1, xanchor="right", yref="y", y=fair, yanchor="bottom",
                showarrow=False, font=dict(color="gray"), bgcolor="rgba(255,255,255,0.8)")  # readable over a bar
    title = "Digits G draws (mode collapse)" + (f" at step {step:,}" if step is not None else "")
    return _figure(bars, title, "share of samples", barmode="overlay",
                   xaxis=dict(title=dict(text="digit read"), type="category"),
                   yaxis=dict(range=[0, 1], tickformat=".0%"), shapes=[line], annotations=[note], hovermode="closest")


def d_histogram_figure(d_real: list[float], d_fake: list[float], probabilities: bool,
                       series: dict[str, list[float]], upto: int = 0, step: int | None = None) -> go.Figure:
    """Left: histograms of D's outputs on real images and on fakes now. Right: their overlap over steps."""
    span = dict(start=0, end=1, size=0.05) if probabilities else None
    common = dict(type="histogram", opacity=0.6, histnorm="probability", xbins=span, bingroup=1)
    traces = [dict(x=[round(v, 4) for v in d_real], name="D on real images", marker=dict(color=REAL_COLOR), **common),
              dict(x=[round(v, 4) for v in d_fake], name="D on fakes", marker=dict(color=G_COLOR), **common),
              _line(series.get("step", []), series.get("overlap", []), "overlap of the two", "gray", width=1.5,
                    xaxis="x2", yaxis="y2", mode="lines+markers")]
    x_title = "D(x): P(real)" if probabilities else "critic score"
    now = f"at step {step:,}" if step is not None else "now"
    return _figure(traces, f"D's outputs {now}, and their overlap", "share",
                   barmode="overlay", hovermode="closest",
                   xaxis=dict(title=dict(text=x_title), domain=[0, 0.55], range=[0, 1] if probabilities else None),
                   xaxis2=dict(title=dict(text="step"), domain=[0.72, 1], anchor="y2",
                               range=_first_reading_range(series.get("step", []), upto)),
                   yaxis2=dict(range=[0, 1.05], anchor="x2", tickformat=".0%"))
