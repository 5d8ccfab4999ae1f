"""Fuzzing the checkpoint door: mutated real headers and generated odd ones. Every input ends in a loaded
checkpoint or a CheckpointError, never another exception, and every refusal takes under a second."""

import json
import random
import struct
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer import checkpoints, nets
from explorer.checkpoints import CheckpointError
from explorer.untrusted_json import MAX_DEPTH, JSONProblem, nesting_depth, parse_json
from tiny import tiny

MUTATIONS = 3000
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def blob() -> bytes:
    cfg = tiny(g_batchnorm=True)  # batch norm adds the int64 counters to the mix
    G, D = nets.build(cfg)
    return checkpoints.to_bytes(cfg, G, D, {"name": "fuzz", "steps": 3})


def load_or_refuse(data) -> float:
    """Load `data`; a CheckpointError is fine, anything else fails the test. Returns the seconds taken."""
    t0 = time.perf_counter()
    try:
        ck = checkpoints.load(data)
    except CheckpointError as e:
        assert str(e)  # a message for the student, never an empty one
    else:  # a valid result: networks that match their config
        assert isinstance(ck.G, nets.Generator) and ck.cfg.validate() is None
    return time.perf_counter() - t0


JSONISH = b'{}[]",:0123456789-eE.\\ntfuGD_ '  # bytes that keep JSON parsing on, so the checks behind it run


def mutate(data: bytes, rng: random.Random, end: int) -> bytes:
    """1 to 4 bytes of `data[:end]` replaced (by any byte, or by one that JSON uses), flipped, inserted or deleted."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(min(end, len(out)))
        how = rng.random()
        if how < 0.2:
            out[i] = rng.randrange(256)
        elif how < 0.55:
            out[i] = rng.choice(JSONISH)
        elif how < 0.7:
            out[i] ^= 1 << rng.randrange(8)
        elif how < 0.85:
            out.insert(i, rng.choice(JSONISH))
        else:
            del out[i]
    return bytes(out)


def test_mutated_headers_load_or_are_refused(blob):
    (n,) = struct.unpack("<Q", blob[:8])
    rng = random.Random(1234)
    slowest = max(load_or_refuse(mutate(blob, rng, 8 + n)) for _ in range(MUTATIONS))
    assert slowest < 1.0, f"the slowest answer took {slowest:.2f} s"


@pytest.mark.parametrize("cut", [0, 1, 7, 8, 9, 100, -1000, -1])
def test_truncations_are_refused(blob, cut):
    with pytest.raises(CheckpointError):
        checkpoints.load(blob[:cut])


# ---- generated headers of odd types and depths, in a valid safetensors framing -----------------
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                         st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=12)
deep = st.integers(1, 100_000).map(lambda d: "[" * d + "]" * d)
huge_number = st.integers(25, 6000).map(lambda k: "9" * k)
as_text = st.one_of(json_values.map(json.dumps), deep, huge_number, st.text(max_size=20))
config_texts = st.one_of(as_text, st.just(tiny().to_json()),
                         st.dictionaries(st.sampled_from(["g_layers", "d_layers", "latent_dim", "seed", "digits"]),
                                         json_values, max_size=3).map(lambda d: json.dumps({**tiny().to_dict(), **d})))
metadata = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={"format": st.one_of(st.just(checkpoints.FORMAT), json_values),
                                        "config": st.one_of(config_texts, json_values),
                                        "meta": st.one_of(as_text, json_values)}),
)
tensor_entry = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "dtype": st.one_of(st.sampled_from(["F32", "I64", "F16", "BOOL", "X"]), json_values),
    "shape": st.one_of(st.lists(st.integers(-2, 2**40), max_size=4), json_values),
    "data_offsets": st.one_of(st.lists(st.integers(-2, 2**40), max_size=3), json_values)}))
tensor_names = st.one_of(st.sampled_from(list(nets.expected_tensors(tiny()))), st.text(max_size=10))
headers = st.one_of(
    json_values.map(json.dumps),
    st.builds(lambda meta, tensors: json.dumps({"__metadata__": meta, **tensors}), metadata,
              st.dictionaries(tensor_names, tensor_entry, max_size=4)),
    deep, huge_number,
    st.builds(lambda d, k: '{"__metadata__": {"config": "' + "[" * d + '"}, "x": ' + "1" * k + "}",
              st.integers(0, 50_000), st.integers(1, 5000)),
)


@FUZZ
@given(headers, st.binary(max_size=64))
def test_generated_headers_load_or_are_refused(header, data):
    raw = header.encode("utf-8", "surrogatepass")
    assert load_or_refuse(struct.pack("<Q", len(raw)) + raw + data) < 1.0


@FUZZ
@given(st.dictionaries(tensor_names, tensor_entry, max_size=6), st.binary(max_size=256))
def test_odd_tensor_entries_beside_a_valid_config_are_refused_or_load(tensors, data):
    header = {"__metadata__": {"format": checkpoints.FORMAT, "config": tiny().to_json(), "meta": "{}"}, **tensors}
    raw = json.dumps(header).encode()
    assert load_or_refuse(struct.pack("<Q", len(raw)) + raw + data) < 1.0


# ---- the untrusted-JSON reader itself --------------------------------------------------------------
def reference_depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(reference_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(reference_depth, value.values()), default=0)
    return 0


tricky_text = st.text(alphabet='[]{}"\\ab', max_size=8)
nested = st.recursive(st.one_of(json_scalars, tricky_text), lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(tricky_text, inner, max_size=3)), max_leaves=20)


@FUZZ
@given(nested)
def test_nesting_depth_skips_brackets_inside_strings(value):
    text = json.dumps(value)
    assert nesting_depth(text.encode()) == reference_depth(value)
    if reference_depth(value) <= MAX_DEPTH:
        assert parse_json(text) == value


@FUZZ
@given(st.binary(max_size=200))
def test_parse_json_raises_only_its_own_problem(raw):
    try:
        parse_json(raw)
    except JSONProblem as e:
        assert str(e)


def test_parse_json_refuses_what_pythons_parser_chokes_on():
    for text, words in [("[" * 100_000 + "]" * 100_000, "100,000 deep"), ("9" * 5000, "5,000 digits"),
                        ('{"a": 1, "a": 2}', "repeats the key 'a'"), (b"\xff{}", "not UTF-8")]:
        with pytest.raises(JSONProblem, match=words):
            parse_json(text)
    assert parse_json('{"x": "[[[[", "n": NaN}')["x"] == "[[[["  # brackets in strings do not count
    assert torch.isnan(torch.tensor(parse_json("[NaN]")[0]))  # json.dumps writes NaN in metadata; it reads back
