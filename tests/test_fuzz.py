"""Property-based fuzzing of everything a user can type, link or upload: it is used, or refused with the
engine's own error naming what was wrong, never anything else (no crash, no hang, no silent garbage)."""

import dataclasses
import io
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer import checkpoints, images, lessons
from explorer.app import form_values, share
from explorer.app.points import parse_z
from explorer.config import MAX_BATCH, MAX_LATENT, MAX_UNITS, ConfigError, GANConfig

FIELDS = [f.name for f in dataclasses.fields(GANConfig)]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

anything = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.lists(st.one_of(st.integers(min_value=-(10**12), max_value=10**12), st.text(max_size=5)), max_size=8),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
# what a form or a link sends: strings, often numeric-looking, sometimes absurd
typed = st.one_of(
    st.text(max_size=30), st.sampled_from(["", " ", "-1", "0", "1e309", "-1e-309", "nan", "inf", "1,2,3", "256, 512",
                                           "99999999", "true", "yes", "relu", "adam", "\x00", "☃", "1" * 400]),
    st.integers(min_value=-(10**9), max_value=10**9).map(str), st.floats().map(repr),
)


def assert_valid(cfg: GANConfig) -> None:
    cfg.validate()  # whatever came in, what comes out is a config the engine accepts
    assert all(1 <= n <= MAX_UNITS for n in cfg.g_layers + cfg.d_layers)
    assert 1 <= cfg.latent_dim <= MAX_LATENT and 1 <= cfg.batch_size <= MAX_BATCH
    assert 0 < cfg.g_lr <= 1 and 0 < cfg.d_lr <= 1 and math.isfinite(cfg.g_lr) and cfg.digits


@FUZZ
@given(st.dictionaries(st.sampled_from(FIELDS), anything, max_size=8))
def test_config_from_any_values_is_valid_or_a_config_error(values):
    try:
        cfg = GANConfig.from_dict(values)
    except ConfigError as e:
        assert e.field in FIELDS or e.field in values, e
        return
    assert_valid(cfg)


@FUZZ
@given(st.dictionaries(st.text(max_size=12), anything, max_size=4))
def test_unknown_keys_are_named(values):
    unknown = sorted(set(values) - set(FIELDS))
    if not unknown:
        return
    with pytest.raises(ConfigError) as e:
        GANConfig.from_dict(values)
    assert e.value.field == unknown[0]


FORM_KEYS = [*form_values.PLAIN_FIELDS, *form_values.LIST_FIELDS, "g_n_layers", "g_units", "d_n_layers", "d_units",
             "length_kind", "length_amount"]


@FUZZ
@given(st.dictionaries(st.sampled_from(FORM_KEYS), st.one_of(typed, anything), max_size=10),
       st.lists(st.sampled_from(form_values.DIGIT_OPTIONS + ["x", "11", "-1"]), max_size=12))
def test_the_setup_form_is_valid_or_names_the_field(values, digits):
    form = {**form_values.form_values(GANConfig()), **values, "digits": digits}
    try:
        cfg, budget = form_values.read_form(form)
    except ConfigError as e:
        # the field is one the form shows by name (its label is not just the raw key), and so is the message
        assert e.field in form_values.LABELS, e
        assert str(e).startswith(f"{e.field}: ") and len(str(e)) > len(e.field) + 2
        return
    assert_valid(cfg)
    assert budget.amount > 0 and math.isfinite(budget.amount)


@FUZZ
@given(st.dictionaries(st.one_of(st.sampled_from([*FIELDS, "preset", "steps", "epochs", "seconds", "lesson",
                                                  "present", "embed"]), st.text(max_size=10)), typed, max_size=10))
def test_a_link_never_fails_and_always_gives_a_valid_setup(params):
    decoded = share.decode(params)
    assert_valid(decoded.cfg)
    assert decoded.budget.amount > 0 and math.isfinite(decoded.budget.amount)
    assert decoded.lesson in ("", *lessons.LESSONS)
    assert all(isinstance(w, str) and w for w in decoded.warnings)


@FUZZ
@given(st.text(max_size=300), st.integers(min_value=1, max_value=64))
def test_a_point_link_is_a_finite_point_or_a_reason(text, dims):
    z, problem = parse_z(text, dims)
    assert (z is None) != (problem is None)
    if z is not None:
        assert z.shape == (dims,) and torch.isfinite(z).all()


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_are_never_a_checkpoint(data):
    with pytest.raises(checkpoints.CheckpointError):
        checkpoints.load(data)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_are_never_a_picture(data):
    with pytest.raises(images.ImageError):
        images.to_digit(data)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.integers(min_value=1, max_value=300),
       st.sampled_from(["L", "RGB", "RGBA", "P", "1", "I;16"]), st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "WEBP"]))
def test_any_picture_size_mode_or_format_becomes_an_mnist_digit_or_a_reason(w, h, mode, fmt):
    from PIL import Image, ImageDraw

    if fmt == "JPEG" and mode in ("RGBA", "P", "I;16"):
        return  # Pillow cannot write these as JPEG
    picture = Image.new(mode, (w, h), 0)
    ImageDraw.Draw(picture).ellipse([w // 4, h // 4, 3 * w // 4, 3 * h // 4], outline=255 if mode != "1" else 1,
                                    width=max(1, min(w, h) // 10))
    buf = io.BytesIO()
    try:
        picture.save(buf, fmt)
    except (OSError, ValueError, KeyError):
        return  # a combination this Pillow cannot write
    try:
        digit = images.to_digit(buf.getvalue())
    except images.ImageError as e:
        assert str(e)
        return
    assert digit.shape in ((28, 28), (784,)) and torch.isfinite(digit.float()).all()


def test_an_upload_past_the_size_limit_is_refused_before_parsing(monkeypatch):
    monkeypatch.setattr(checkpoints, "MAX_BYTES", 1000)
    monkeypatch.setattr(checkpoints, "read_header", lambda data: pytest.fail("parsed a file over the limit"))
    with pytest.raises(checkpoints.CheckpointError, match="larger than"):
        checkpoints.load(b"\0" * 1001)
