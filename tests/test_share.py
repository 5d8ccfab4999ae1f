"""Setups as share links, and back (explorer/app/share.py), without Streamlit."""

from explorer import lessons, presets
from explorer.app import share
from explorer.config import Budget


def test_share_links_round_trip():
    cfg = presets.get("keras-dense").config(digits=[2, 9], g_lr=3e-4, conditional=True)
    params = share.encode("keras-dense", cfg, Budget("seconds", 45.5))
    assert params["preset"] == "keras-dense" and params["digits"] == "2,9" and params["seconds"] == "45.5"
    assert "latent_dim" not in params  # only what differs from the preset
    decoded = share.decode(params)
    assert (decoded.cfg, decoded.budget, decoded.warnings) == (cfg, Budget("seconds", 45.5), [])
    assert share.decode({"digits": "all"}).cfg.digits == list(range(10))
    assert share.decode({"steps": "", "seconds": "9"}).budget == Budget("seconds", 9.0)  # empty = not given


def test_a_bad_value_warns_and_the_presets_value_stays():
    decoded = share.decode({"preset": "nope", "g_lr": "7", "foo": "bar", "steps": "-5"})
    assert decoded.preset == "default" and decoded.cfg.g_lr == presets.get("default").config().g_lr
    assert decoded.budget == share.DEFAULT_BUDGET
    text = " ".join(decoded.warnings)
    for bad in ("preset", "g_lr", "foo", "steps"):
        assert bad in text


def test_a_lesson_link_opens_the_lessons_setup_and_length():
    lesson = lessons.get("collapse")
    decoded = share.decode(lesson.params())
    assert decoded.lesson == "collapse" and decoded.cfg == lesson.config() and decoded.budget == lesson.budget


def test_a_lesson_link_is_not_case_sensitive():
    assert share.decode({"lesson": " Collapse "}).lesson == "collapse"
    assert share.decode({"lesson": "COLLAPSE"}).cfg == lessons.get("collapse").config()


def test_a_setup_from_a_lesson_encodes_as_the_lesson_and_its_fix_as_the_lesson_and_its_change():
    lesson = lessons.get("collapse")
    assert share.encode("default", lesson.config(), lesson.budget, "collapse") == {"lesson": "collapse"}
    fix = share.encode("default", lesson.fixed_config(), lesson.budget, "collapse")
    assert fix == {"lesson": "collapse", "g_lr": "0.001"}
    decoded = share.decode(fix)
    assert decoded.cfg == lesson.fixed_config() and decoded.lesson == "collapse"


def test_recorded_live_changes_travel_in_a_link():
    cfg = presets.get("default").config(live_changes=[{"step": 1200, "g_lr": 5e-3}, {"step": 2000, "loss": "hinge"}])
    params = share.encode("default", cfg, Budget("steps", 3000))
    assert params["live_changes"] == "1200:g_lr=0.005;2000:loss=hinge"
    assert share.decode(params).cfg == cfg
