import json

import pytest

from explorer.config import ConfigError, GANConfig, differences, parse_int_list


def test_json_round_trip_keeps_every_field():
    cfg = GANConfig.from_dict(dict(digits=[1, 7], g_layers=[64, 128], prior="uniform", loss="hinge",
                                   g_milestones=[2, 5], conditional=True, label_smoothing=0.9))
    again = GANConfig.from_json(cfg.to_json())
    assert again == cfg
    assert json.loads(cfg.to_json())["g_layers"] == [64, 128]


def test_form_strings_are_coerced():
    cfg = GANConfig().replace(digits="0, 1,2", g_layers="128 256", g_lr="1e-3", g_batchnorm="true", d_steps="2")
    assert cfg.digits == [0, 1, 2] and cfg.g_layers == [128, 256]
    assert cfg.g_lr == 1e-3 and cfg.g_batchnorm is True and cfg.d_steps == 2


def test_zero_layers_are_allowed():
    assert GANConfig().replace(g_layers="", d_layers=[]).g_layers == []


@pytest.mark.parametrize("field, value, words", [
    ("digits", [], "at least one digit"),
    ("digits", [10], "from 0 to 9"),
    ("g_layers", [0], "from 1 to"),
    ("d_layers", "abc", "not a whole number"),
    ("g_layers", [8] * 7, "0 to 6"),
    ("g_lr", 0, "> 0 and <= 1"),
    ("d_lr", -1e-3, "> 0 and <= 1"),
    ("g_lr", 1.5, "> 0 and <= 1"),
    ("g_lr", "nan", "> 0 and <= 1"),
    ("loss", "magic", "not one of"),
    ("batch_size", 0, "from 1 to"),
    ("latent_dim", "ten", "not a valid int"),
    ("g_milestones", [5, 2], "increasing"),
])
def test_invalid_values_name_the_field(field, value, words):
    with pytest.raises(ConfigError) as e:
        GANConfig().replace(**{field: value})
    assert e.value.field == field
    assert field in str(e.value) and words in str(e.value)


def test_batch_larger_than_data_is_rejected_with_the_limit():
    with pytest.raises(ConfigError) as e:
        GANConfig(batch_size=600).validate(n_images=500)
    assert e.value.field == "batch_size" and "at most 500" in str(e.value)


def test_unknown_key_and_bad_pairs():
    with pytest.raises(ConfigError, match="unknown setting"):
        GANConfig.from_dict({"learning_rate": 1})
    with pytest.raises(ConfigError, match="key=value"):
        GANConfig().with_settings(["g_lr"])
    assert GANConfig().with_settings(["g_lr=0.01", "loss = lsgan"]).loss == "lsgan"


def test_parse_int_list():
    assert parse_int_list("x", "1;2 3,") == [1, 2, 3]
    with pytest.raises(ConfigError):
        parse_int_list("x", [1.5])


def test_differences_lists_only_the_fields_that_differ():
    a, b = GANConfig(), GANConfig(g_lr=1e-3, digits=[3, 5])
    assert differences({"a": a, "b": b}) == {"digits": [[3], [3, 5]], "g_lr": [2e-4, 1e-3]}
    assert differences({"a": a, "a again": GANConfig()}) == {}
    assert differences({}) == {}
