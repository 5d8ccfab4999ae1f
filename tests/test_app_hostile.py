"""Hostile links: every page, opened with garbage in every query parameter it reads, warns and keeps working."""

import pytest
from apptest_support import APP, PAGES
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.usefixtures("roomy_registry")

GARBAGE = [
    {"preset": "../../etc/passwd", "digits": "-1,99,x", "steps": "1e309", "g_lr": "nan", "lesson": "\x00",
     "present": "☃"},
    {"z": "1e999," * 64, "digit": "11", "model": "<script>alert(1)</script>", "seconds": "-5", "epochs": "2"},
    {"batch_size": "9" * 400, "g_layers": "4097,1", "loss": "'; DROP TABLE runs; --", "conditional": "maybe"},
]


@pytest.mark.parametrize("params", GARBAGE, ids=["setup", "point", "absurd"])
@pytest.mark.parametrize("page", PAGES)
def test_garbage_links_warn_and_every_page_still_works(page, params):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params.update(params)
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert at.title, "the page drew nothing"
    text = " ".join(w.value for w in at.warning)
    if page == "pages/train.py":  # the setup page reads these: it says what it could not use
        assert "could not be used" in text
    if page == "pages/latent.py" and "z" in params:
        assert "not a finite number" in text or "numbers" in text
    at.run()  # and a second run (a widget touch) is as fine
    assert not at.exception
