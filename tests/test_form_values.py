"""Form values <-> config and budget (explorer/app/form_values.py), without Streamlit."""

import pytest

from explorer.app import form_values
from explorer.config import MAX_LAYERS, Budget, ConfigError
from tiny import tiny


def test_form_values_round_trip_through_read_form():
    cfg = tiny(digits=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], g_layers=[64, 128], d_milestones=[2, 5])
    values = form_values.form_values(cfg, Budget("epochs", 3))
    assert values["digits"] == [form_values.ALL] and values["g_units"] == "64, 128"
    assert form_values.read_form(values) == (cfg, Budget("epochs", 3))
    assert form_values.read_form({**values, "g_n_layers": 3, "g_units": "16"})[0].g_layers == [16, 16, 16]
    with pytest.raises(ConfigError, match="seconds"):
        form_values.read_form({**values, "length_kind": "seconds", "length_amount": "soon"})


def test_fields_the_form_does_not_show_keep_the_base_configs_values():
    base = tiny(g_ema=0.99, r1_weight=2.0)
    values = form_values.form_values(base)
    values.pop("g_ema")  # as if the form had no such field
    cfg, _ = form_values.read_form(values, base.to_dict())
    assert cfg.g_ema == 0.99 and cfg.r1_weight == 2.0


@pytest.mark.parametrize("count", [10**9, MAX_LAYERS + 1, -1, True, 2.5])
def test_an_absurd_layer_count_is_refused_before_anything_is_built(count):
    with pytest.raises(ConfigError, match=f"from 0 to {MAX_LAYERS}"):
        form_values.read_layers("g_layers", count, "256")


def test_layer_sizes_must_match_the_count():
    assert form_values.read_layers("d_layers", 2, "64, 32") == [64, 32]
    assert form_values.read_layers("d_layers", 0, "256") == []
    with pytest.raises(ConfigError, match="3 hidden layers need 3 sizes"):
        form_values.read_layers("d_layers", 3, "64, 32")


def test_learning_rates_sit_on_a_log_scale_and_keep_a_rate_in_use():
    assert {1e-4, 2e-4, 5e-4, 1e-3} <= set(form_values.LEARNING_RATES)
    assert 3e-4 in form_values.lr_options(3e-4) and 3e-4 not in form_values.LEARNING_RATES
    assert [form_values.format_lr(x) for x in (2e-4, 0.02, 1.0)] == ["2e-4", "0.02", "1"]


def test_budgets_are_read_plainly():
    assert form_values.read_budget("seconds", "2.5") == Budget("seconds", 2.5)
    with pytest.raises(ConfigError, match="whole number of steps"):
        form_values.read_budget("steps", 2.5)
    with pytest.raises(ConfigError, match="not one of"):
        form_values.read_budget("days", 2)
