"""A run's progress (explorer/progress.py): the status names, the thinned history, the published value."""

import dataclasses

import pytest

from explorer.progress import COLUMNS, COUNTERS, History, Progress, Row, Status


def row(step: int, d_loss: float) -> Row:
    return Row(**{**dict.fromkeys(COLUMNS, 0.0), "step": step, "images": step * 64, "seconds": step / 10,
                  "d_loss": d_loss})


def test_history_averages_when_it_thins():
    h = History(max_points=4)
    for i in range(1, 17):
        h.add(row(i, float(i)))
    cols = h.columns()
    assert len(cols["step"]) <= 5 and cols["step"][-1] == 16
    spans = [b - a for a, b in zip([0, *cols["step"]], cols["step"])]
    assert sum(v * w for v, w in zip(cols["d_loss"], spans)) / 16 == pytest.approx(8.5)  # no step lost
    assert cols["d_loss"] == sorted(cols["d_loss"])


def test_counters_keep_the_last_value_and_metrics_the_mean_when_rows_merge():
    h = History(max_points=1)
    for i in (1, 2, 3):
        h.add(row(i, float(i)))
    [merged] = h.table().rows[-1:]
    assert (merged.step, merged.images, merged.seconds) == (3, 3 * 64, 0.3)  # where the row was taken
    assert set(COUNTERS) == {"step", "epoch", "images", "seconds"}
    assert h.table().rows[0].d_loss == pytest.approx(1.5)  # the first two steps, averaged


def test_a_published_table_does_not_change_when_training_goes_on():
    h = History()
    h.add(row(1, 1.0))
    table = h.table()
    h.add(row(2, 2.0))
    assert table.columns()["step"] == [1] and h.table().columns()["step"] == [1, 2]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Progress().step = 3  # published progress is never changed in place


def test_status_names_what_is_over_and_what_went_wrong():
    assert {s for s in Status if s.terminal} == {Status.FINISHED, Status.STOPPED, Status.DIVERGED, Status.COLLAPSED,
                                                 Status.FAILED}
    assert {s for s in Status if s.failed} == {Status.DIVERGED, Status.COLLAPSED, Status.FAILED}
    assert Status.PAUSED == "paused" and f"{Status.QUEUED}" == "queued"  # prints and compares as its name
