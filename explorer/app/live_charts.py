"""The Train page's live charts for a job's view, without Streamlit: the same figures the page draws every
second and the overhead benchmark builds (`python -m explorer bench overhead`)."""

from __future__ import annotations

import plotly.graph_objects as go

from .. import charts, quality
from ..config import GANConfig
from ..losses import LOSSES
from .jobs import JobView

TRAINING = ("chart_loss", "chart_d", "chart_dyn")  # from the history of per-step metrics
METER = ("chart_share", "chart_classes", "chart_fid", "chart_dhist")  # from the quality meter's readings


def figures(view: JobView, cfg: GANConfig) -> dict[str, go.Figure]:
    """Every live chart the view has data for, by its key on the page."""
    history, marks = view.history, [(c.step, c.what) for c in view.changes]  # each live change, where it began
    lone = nudge_marks(view.nudges)
    probabilities = LOSSES[view.settings.get("loss", cfg.loss)].probabilities
    out = {"chart_loss": charts.loss_figure(history, marks, lone),
           "chart_d": charts.d_output_figure(history, probabilities, marks, lone),
           "chart_dyn": charts.dynamics_figure(history, marks, lone)}
    if view.readings:
        last, series = view.readings[-1], quality.series(view.readings)
        out.update({"chart_share": charts.share_figure(series, cfg.digits, view.step),
                    "chart_classes": charts.class_figure(last.histogram, last.looks_real_histogram, cfg.digits,
                                                         last.step),
                    "chart_fid": charts.fid_figure(series, view.step),
                    "chart_dhist": charts.d_histogram_figure(last.d_real.tolist(), last.d_fake.tolist(),
                                                             last.probabilities, series, view.step, last.step)})
    return out


def nudge_marks(nudges) -> list[tuple[int, str]]:
    """Step mode's lone updates, one mark per step: "D", "G", or "D×3 G" when several came at one step (D steps
    leave the step count as it is, so a student's run of them lands on one step)."""
    by_step: dict[int, dict[str, int]] = {}
    for nudge in nudges:
        counts = by_step.setdefault(nudge.step, {})
        net = nudge.what.split()[0]  # "D step" -> "D"
        counts[net] = counts.get(net, 0) + 1
    return [(step, " ".join(net if n == 1 else f"{net}×{n}" for net, n in counts.items()))
            for step, counts in by_step.items()]
