import itertools
import json
import math
import re
import struct
import time

import pytest

from explorer import checkpoints, nets
from explorer.config import (
    MAX_CHECKPOINT_BYTES,
    MAX_CHECKPOINT_HEADER,
    MAX_LATENT,
    MAX_LAYERS,
    MAX_UNITS,
    ConfigError,
    GANConfig,
    checkpoint_bytes,
    differences,
    parameter_count,
    parse_int_list,
)


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


# ---- absurd numbers and limits that agree ----------------------------------------------------------------
@pytest.mark.parametrize("value, words", [
    ("1," * 65, "lists 65 numbers; at most 64"),
    (list(range(1_000_000)), "lists 1,000,000 numbers; at most 64"),
    ("8 " * 1_000_000, "too long (2,000,000 characters"),
    (["9" * 100_000], "is not a whole number"),
    ([10**5000], None),  # a whole number, refused later by the field's range
])
def test_long_lists_are_refused_before_they_are_built(value, words):
    t0 = time.perf_counter()
    if words is None:
        assert parse_int_list("g_layers", value) == value
    else:
        with pytest.raises(ConfigError, match=re.escape(words)) as e:
            parse_int_list("g_layers", value)
        assert e.value.field == "g_layers" and len(str(e.value)) < 300
    assert time.perf_counter() - t0 < 0.5


def test_absurd_layer_lists_name_the_field_quickly():
    for value in ("4096 " * 1000, [4096] * 10**6, ["9" * 100_000] * 3, "9" * 4000):
        t0 = time.perf_counter()
        with pytest.raises(ConfigError) as e:
            GANConfig().replace(g_layers=value)
        assert e.value.field == "g_layers" and time.perf_counter() - t0 < 0.5 and len(str(e.value)) < 300


def test_networks_too_large_to_upload_again_are_refused_before_training():
    cfg = GANConfig(g_layers=[4096] * 3, d_layers=[4096] * 3)
    with pytest.raises(ConfigError) as e:
        cfg.validate()
    assert e.value.field == "g_layers"  # G is the larger of the two here (784 outputs against 1)
    assert re.search(r"G and D together would hold 7\d million numbers, a 2\d\d MB checkpoint; this app can upload "
                     r"at most 256 MB again, so use fewer or smaller layers", str(e.value)), str(e.value)
    with pytest.raises(ConfigError) as e:
        GANConfig(g_layers=[64], d_layers=[4096] * 6).validate()
    assert e.value.field == "d_layers"


@pytest.mark.parametrize("conditional, g_batchnorm, d_batchnorm, coverage",
                         [(*flags, 0.0) for flags in itertools.product([False, True], repeat=3)]
                         + [(False, False, d_batchnorm, 1.0) for d_batchnorm in (False, True)])
def test_the_parameter_count_is_the_networks_and_the_checkpoint_fits_its_bound(conditional, g_batchnorm, d_batchnorm,
                                                                               coverage):
    cfg = GANConfig(latent_dim=6, g_layers=[5, 9], d_layers=[7], conditional=conditional, g_batchnorm=g_batchnorm,
                    d_batchnorm=d_batchnorm, digits=[2, 3], coverage=coverage)
    G, D = nets.build(cfg)
    assert parameter_count(cfg, "g") == sum(t.numel() for t in G.state_dict().values())
    assert parameter_count(cfg, "d") == sum(t.numel() for t in D.state_dict().values())
    assert parameter_count(cfg) == parameter_count(cfg, "g") + parameter_count(cfg, "d")
    blob = checkpoints.to_bytes(cfg, G, D, {"name": "x" * 1000})
    (header,) = struct.unpack("<Q", blob[:8])
    weights = len(blob) - 8 - header
    assert checkpoint_bytes(cfg) == 8 + MAX_CHECKPOINT_HEADER + weights  # exact, with the header's allowance
    assert len(blob) <= checkpoint_bytes(cfg)


def test_every_config_that_validates_fits_in_an_upload():
    """Over the largest layouts (4096 units, the widest input, batch norm), on the meta device: what validates
    makes a checkpoint under MAX_CHECKPOINT_BYTES; the rest is refused."""
    fits = 0
    for g, d in itertools.product(range(MAX_LAYERS + 1), repeat=2):
        cfg = GANConfig(latent_dim=MAX_LATENT, conditional=True, g_layers=[MAX_UNITS] * g, d_layers=[MAX_UNITS] * d,
                        g_batchnorm=True, d_batchnorm=True)
        weights = sum(math.prod(shape) * dtype.itemsize for shape, dtype in nets.expected_tensors(cfg).values())
        assert checkpoint_bytes(cfg) == 8 + MAX_CHECKPOINT_HEADER + weights
        try:
            cfg.validate()
        except ConfigError:
            assert checkpoint_bytes(cfg) > MAX_CHECKPOINT_BYTES
        else:
            fits += 1
            assert checkpoint_bytes(cfg) <= MAX_CHECKPOINT_BYTES
    assert fits > 10  # G 3×4096 with D 2×4096 still fits, for one


def test_presets_and_demos_still_validate():
    from explorer import demos, presets
    for preset in presets.PRESETS.values():
        preset.config()
    for demo in demos.DEMOS.values():
        demo.config()


def test_live_changes_read_from_a_link_or_a_file_and_refuse_what_cannot_change():
    from explorer.config import live_changes_text, parse_live_changes

    changes = parse_live_changes("1200:g_lr=0.005,loss=hinge; 2000:d_steps=2")
    assert changes == [{"step": 1200, "g_lr": 0.005, "loss": "hinge"}, {"step": 2000, "d_steps": 2}]
    assert parse_live_changes(live_changes_text(changes)) == changes
    cfg = GANConfig(live_changes=changes)
    assert (cfg.ended().g_lr, cfg.ended().loss, cfg.ended().d_steps) == (0.005, "hinge", 2)
    assert GANConfig.from_json(cfg.to_json()) == cfg
    for bad, words in [("1200:latent_dim=3", "latent_dim"), ("12:g_lr=7", "learning rate"),
                       ("2000:d_steps=2;100:g_lr=0.001", "in order"), ("x:g_lr=0.1", "step"),
                       ("1200", "STEP:setting"), ("1:loss=nope", "loss"), (";".join(["1:d_steps=2"] * 65), "65")]:
        with pytest.raises(ConfigError, match=words):
            GANConfig().replace(live_changes=bad)


@pytest.mark.parametrize("changes, says", [(dict(conditional=True), "conditional model is told which digit"),
                                           (dict(digits=[4]), "pick two or more")])
def test_digit_coverage_needs_several_digits_and_no_labels_given(changes, says):
    with pytest.raises(ConfigError, match=says) as e:
        GANConfig.from_dict({"digits": [1, 2], "coverage": 1.0, **changes})
    assert e.value.field == "coverage"
