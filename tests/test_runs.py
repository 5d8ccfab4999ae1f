"""Runs as the app keeps them (explorer/app/runs.py): downloads that load again, plain file names, the CSV."""

import pytest

from explorer import checkpoints
from explorer.app.runs import Run, metrics_csv
from explorer.nets import build
from explorer.progress import COLUMNS
from tiny import tiny


def test_a_downloaded_checkpoint_always_loads_again():
    cfg = tiny(digits=[4])
    G, D = build(cfg)
    meta = next(m for m in ({"name": "x" * n} for n in range(300))  # a header whose length byte reads as pickle
                if checkpoints.to_bytes(cfg, G, D, m)[:1] == b"\x80")
    run = Run("x", cfg, G, D, meta)
    assert checkpoints.load(run.checkpoint_bytes()).cfg == cfg


@pytest.mark.parametrize("name, slug", [("Run 2 (the fix)", "run-2-the-fix"), ("Démo: chiffre 3", "démo-chiffre-3"),
                                        ("Uploaded a.safetensors", "uploaded-a-safetensors"), ("!!", "run")])
def test_download_names_are_plain(name, slug):
    assert Run(name, tiny(), None, None, {}).slug == slug


def test_the_metrics_csv_has_every_column_and_row():
    history = {c: [1.0, 2.0] for c in COLUMNS}
    lines = metrics_csv(history).splitlines()
    assert lines[0].split(",") == list(COLUMNS) and len(lines) == 3
