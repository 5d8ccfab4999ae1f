"""Hostile input through the pages: garbage links on every page, crafted uploads, odd pictures, absurd numbers.
Each is refused or used with a plain message, and the page keeps working."""

import io
import json
import struct
import time

import pytest
from apptest_support import APP, PAGES, TINY, app, errors, session, start
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from explorer.app.runs import Run

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


# ---- round two: crafted uploads, odd pictures, absurd numbers ---------------------------------------------
def test_an_upload_that_fails_in_an_unforeseen_way_gets_a_message_and_never_says_loaded(monkeypatch):
    def broken(data, filename):
        raise RuntimeError("a bug while reading")
    monkeypatch.setattr(Run, "from_upload", broken)
    at = app("pages/runs.py")
    at.file_uploader[0].upload("odd.safetensors", b"whatever").run()
    assert not at.exception
    assert "odd.safetensors" in errors(at) and "could not be loaded" in errors(at)
    assert not at.success and session(at).current is None
    at.run()  # the next rerun still says what happened, and still not "Loaded"
    assert not at.success and "could not be loaded" in errors(at)


def test_a_crafted_checkpoint_header_is_refused_in_words_on_the_runs_page():
    header = json.dumps({"__metadata__": ["not", "a", "dict"]}).encode()
    at = app("pages/runs.py")
    at.file_uploader[0].upload("crafted.safetensors", struct.pack("<Q", len(header)) + header).run()
    assert not at.exception and not at.success
    assert "crafted.safetensors" in errors(at) and session(at).current is None


def test_every_number_box_of_the_setup_form_has_a_minimum_and_a_maximum():
    at = app("pages/train.py", **TINY)
    boxes = [n for n in at.number_input if n.key.startswith("setup_")]
    assert len(boxes) >= 20
    for box in boxes:
        assert box.min is not None and box.max is not None, box.key
    layers = at.number_input(key="setup_g_n_layers")
    assert (layers.min, layers.max) == (0, 6)
    assert at.text_input(key="setup_g_units").max_chars and at.text_input(key="setup_g_milestones").max_chars


def test_an_absurd_layer_count_sent_past_the_box_never_reaches_the_engine():
    at = app("pages/train.py", **TINY)
    at.number_input(key="setup_g_n_layers").set_value(1_000_000_000)  # what a crafted request could send
    t0 = time.perf_counter()
    start(at)
    assert time.perf_counter() - t0 < 5 and not at.exception
    assert 0 <= at.number_input(key="setup_g_n_layers").value <= 6  # Streamlit kept the box in its range
    job = session(at).job
    assert job is not None and len(job.cfg.g_layers) <= 6
    job.stop()
    assert job.wait(15)


def test_an_animated_picture_for_inversion_uses_its_first_frame_and_says_so():
    frames = []
    for shift in (0, 6, 12):
        frame = Image.new("L", (64, 64), 255)
        ImageDraw.Draw(frame).line([(20 + shift, 10), (20 + shift, 54)], fill=0, width=8)
        frames.append(frame)
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    at = app("pages/interpolation.py", timeout=120)
    at.segmented_control(key="inv_source").set_value("Upload a picture").run()
    at.file_uploader(key="inv_upload").upload("one.gif", gif.getvalue()).run()
    assert not at.exception and not at.error
    assert any("animated" in i.value and "first frame" in i.value for i in at.info)
