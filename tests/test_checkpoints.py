import json
import math
import os
import pickle
import random
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from explorer import checkpoints, data, latent, nets
from explorer.checkpoints import CheckpointError
from explorer.config import Budget, GANConfig
from explorer.trainer import Trainer
from tiny import tiny


@pytest.fixture(scope="module")
def trained():
    trainer = Trainer(tiny(conditional=True, digits=[2, 5]), data.load())
    trainer.run(Budget("steps", 10))
    return trainer


def test_round_trip_keeps_weights_config_and_metadata(trained, tmp_path):
    path = checkpoints.save_trainer(trained, tmp_path / "run.safetensors", sidecar=True, name="run")
    ck = checkpoints.load(path)
    assert ck.cfg == trained.cfg
    assert ck.meta["digits"] == [2, 5] and ck.meta["steps"] == 10 and "g_loss" in ck.meta["final_metrics"]
    z = torch.randn(4, trained.cfg.latent_dim)
    labels = torch.tensor([2, 5, 2, 5])
    assert torch.equal(latent.generate(ck.G, ck.cfg, z, labels), latent.generate(trained.G, trained.cfg, z, labels))
    assert ck.D is not None
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["config"]["digits"] == [2, 5] and side["meta"]["steps"] == 10


def test_generator_only_and_pair_form(trained, tmp_path):
    blob = checkpoints.to_bytes(trained.cfg, trained.G)
    assert checkpoints.load(blob).D is None
    # The pair form: weights without a config in the header, config in the .json beside them.
    from safetensors.torch import save_file
    path = tmp_path / "pair.safetensors"
    save_file({f"G.{k}": v.contiguous() for k, v in trained.G.state_dict().items()}, str(path))
    with pytest.raises(CheckpointError, match="no GAN Explorer config"):
        checkpoints.load(path)
    path.with_suffix(".json").write_text(json.dumps({"config": trained.cfg.to_dict(), "meta": {"name": "x"}}))
    assert checkpoints.load(path).cfg == trained.cfg


def test_garbage_is_rejected(trained):
    blob = checkpoints.to_bytes(trained.cfg, trained.G, trained.D)
    for bad, words in [
        (blob[: len(blob) // 2], "could not be read"),
        (blob[:40], "cut short"),
        (b"\x00" * 3, "too short"),
        (bytes(range(256)) * 8, "not a safetensors"),
        (b"{}" + b"x" * 64, "not a safetensors"),
    ]:
        with pytest.raises(CheckpointError, match=words):
            checkpoints.load(bad)


def test_wrong_shape_is_named(trained):
    other = tiny(conditional=True, digits=[2, 5], g_layers=[48])
    blob = checkpoints.to_bytes(other, trained.G)  # G built for [32] but config says [48]
    with pytest.raises(CheckpointError, match=r"shape \(32, 18\).*needs \(48, 18\)"):
        checkpoints.load(blob)


def test_a_picture_renamed_to_safetensors_is_named_as_a_picture(tmp_path):
    import io

    from PIL import Image

    for fmt, name in (("PNG", "a PNG picture"), ("JPEG", "a JPEG picture"), ("GIF", "a GIF picture"),
                      ("BMP", "a BMP picture"), ("WEBP", "a WebP picture")):
        out = io.BytesIO()
        Image.new("L", (28, 28), 200).save(out, format=fmt)
        with pytest.raises(CheckpointError) as caught:
            checkpoints.load(out.getvalue())
        assert name in str(caught.value) and "Inversion" in str(caught.value), (fmt, str(caught.value))
    random_bytes = bytes(random.Random(0).getrandbits(8) for _ in range(3000))
    with pytest.raises(CheckpointError) as caught:
        checkpoints.load(random_bytes)
    assert "not a safetensors checkpoint" in str(caught.value) and "header" not in str(caught.value)
    assert "picture" not in str(caught.value)


def test_a_pickle_is_never_run(tmp_path, trained):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (marker.write_text, ("ran",))
    for blob in (pickle.dumps(Evil()), _torch_save_bytes(tmp_path, trained)):
        with pytest.raises(CheckpointError, match="never unpickles"):
            checkpoints.load(blob)
    assert not marker.exists()


def test_bad_config_and_nan_weights(trained):
    from safetensors.torch import save
    tensors = {f"G.{k}": v.clone() for k, v in trained.G.state_dict().items()}
    bad_cfg = save(tensors, metadata={"format": checkpoints.FORMAT, "config": json.dumps({"g_lr": 7}), "meta": "{}"})
    with pytest.raises(CheckpointError, match="g_lr"):
        checkpoints.load(bad_cfg)
    tensors["G.head.bias"][0] = float("nan")
    nan = save(tensors, metadata={"format": checkpoints.FORMAT, "config": trained.cfg.to_json(), "meta": "{}"})
    with pytest.raises(CheckpointError, match="NaN"):
        checkpoints.load(nan)


def _torch_save_bytes(tmp_path, trained):
    path = tmp_path / "model.pt"
    torch.save(trained.G.state_dict(), path)
    return path.read_bytes()


# ---- hostile headers: every one is a CheckpointError saying why, before anything is read or built ---------
def framed(header, data: bytes = b"") -> bytes:
    """A safetensors framing around `header` (a dict, or raw JSON text): 8-byte length, JSON, data."""
    raw = header.encode() if isinstance(header, str) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def declared(cfg) -> bytes:
    """A file whose header declares every tensor `cfg` needs, with correct shapes and offsets, but none of
    their data: a few KB that claim to be the networks."""
    header, offset = {"__metadata__": {"format": checkpoints.FORMAT, "config": cfg.to_json(), "meta": "{}"}}, 0
    for name, (shape, dtype) in nets.expected_tensors(cfg).items():
        size = math.prod(shape) * dtype.itemsize
        header[name] = {"dtype": checkpoints.DTYPE_NAMES[dtype], "shape": list(shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    return framed(header)


@pytest.fixture(scope="module")
def header(trained):
    blob = checkpoints.to_bytes(trained.cfg, trained.G, trained.D)
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def with_tensor(header, name, **changes):
    head, data = header
    return framed({**head, name: {**head[name], **changes}}, data)


def with_metadata(header, **changes):
    head, data = header
    return framed({**head, "__metadata__": {**head["__metadata__"], **changes}}, data)


@pytest.mark.parametrize("make, words", [
    (lambda h: framed("[" * 100_000 + "]" * 100_000), "nests lists and objects 100,000 deep"),
    (lambda h: framed('{"x": ' + "7" * 5000 + "}"), "a whole number 5,000 digits long"),
    (lambda h: framed({**h[0], "__metadata__": ["config", "meta"]}, h[1]), "__metadata__ is a list"),
    (lambda h: with_metadata(h, config=json.loads(h[0]["__metadata__"]["config"])), "'config' is an object"),
    (lambda h: with_metadata(h, meta=5), "'meta' is a number"),
    (lambda h: framed({**h[0], "G.head.bias": "zeros"}, h[1]), "tensor 'G.head.bias' is text"),
    (lambda h: with_metadata(h, meta="[" * 50_000 + "]" * 50_000), "metadata nests lists and objects 50,000 deep"),
    (lambda h: with_metadata(h, config='{"seed": ' + "9" * 5000 + "}"), "config holds a whole number 5,000 digits"),
    (lambda h: with_metadata(h, meta="[1, 2]"), "metadata is a list, not a JSON object"),
    (lambda h: with_metadata(h, config='"digits"'), "config is text, not a JSON object"),
    (lambda h: with_tensor(h, "G.head.bias", shape=[-1]), "whole numbers from 0"),
    (lambda h: with_tensor(h, "G.head.bias", data_offsets=[9, 1]), "start before end"),
    (lambda h: with_tensor(h, "G.head.bias", dtype="F16"), "is 'F16', expected F32"),
    (lambda h: with_tensor(h, "G.head.bias", shape=[785]), "has shape (785,), but the config needs (784,)"),
    (lambda h: framed({**h[0], "G.extra": h[0]["G.head.bias"]}, h[1]), "unexpected tensor 'G.extra'"),
    (lambda h: framed(json.dumps(h[0])[:-1] + ', "G.head.bias": 1}', h[1]), "repeats the key 'G.head.bias'"),
    (lambda h: b"\x00" * 8 + b"{}", "not a safetensors checkpoint"),
])
def test_crafted_headers_are_refused_in_words(header, make, words):
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match=re.escape(words)):
        checkpoints.load(make(header))
    assert time.perf_counter() - t0 < 1


def test_the_header_is_checked_against_the_config_before_anything_is_read_or_built(monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("read or built before the header was checked")
    monkeypatch.setattr(checkpoints, "st_load", must_not_run)
    monkeypatch.setattr(checkpoints, "build", must_not_run)
    largest = GANConfig(latent_dim=512, conditional=True, g_layers=[4096] * 3, d_layers=[4096] * 2,
                        g_batchnorm=True, d_batchnorm=True)
    largest.validate()
    too_large = GANConfig(g_layers=[4096] * 6, d_layers=[4096] * 6)

    def no_tensors(cfg):
        return framed({"__metadata__": {"format": checkpoints.FORMAT, "config": cfg.to_json()}})
    for blob, words in [(no_tensors(largest), "missing tensor 'G.body.0.weight'"),
                        (declared(largest), "lies past the end of the file"),
                        (no_tensors(too_large), "would hold 175 million numbers, a 667 MB checkpoint"),
                        (declared(too_large), "lies past the end of the file")]:
        assert len(blob) < 16_000
        with pytest.raises(CheckpointError, match=words):
            checkpoints.load(blob)


def test_odd_sources_are_refused(tmp_path):
    for source, words in [(42, "got int"), (None, "got NoneType"), ("no\x00such", "no checkpoint file"),
                          (tmp_path, "no checkpoint file"), (tmp_path / "missing.safetensors", "no checkpoint file")]:
        with pytest.raises(CheckpointError, match=words):
            checkpoints.load(source)


def test_bytes_like_uploads_load(trained):
    blob = checkpoints.to_bytes(trained.cfg, trained.G, trained.D)
    for source in (bytearray(blob), memoryview(blob)):
        assert checkpoints.load(source).cfg == trained.cfg


def test_a_sidecar_json_is_parsed_as_untrusted_too(trained, tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / "pair.safetensors"
    save_file({f"G.{k}": v.contiguous() for k, v in trained.G.state_dict().items()}, str(path))
    for text, words in [("[" * 10_000 + "]" * 10_000, "nests"), ('{"meta": {}}', '"config" entry'),
                        ('{"config": [1]}', "config is a list")]:
        path.with_suffix(".json").write_text(text)
        with pytest.raises(CheckpointError, match=words):
            checkpoints.load(path)


@pytest.mark.parametrize("cfg", [
    GANConfig(latent_dim=5, g_layers=[7, 3], d_layers=[6], g_batchnorm=True, conditional=True, init="he"),
    GANConfig(latent_dim=2, g_layers=[], d_layers=[4, 4, 4], d_batchnorm=True, g_dropout=0.3),
])
def test_expected_tensors_match_the_real_networks_without_allocating(cfg):
    G, D = nets.build(cfg)
    real = {f"{prefix}.{k}": (tuple(v.shape), v.dtype)
            for prefix, net in (("G", G), ("D", D)) for k, v in net.state_dict().items()}
    assert {k: tuple(v) for k, v in nets.expected_tensors(cfg).items()} == real


MEMORY_PROBE = """
import json, sys, time
from pathlib import Path
from explorer import checkpoints, nets
from explorer.config import GANConfig

def peak_kb():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))

cfg = GANConfig(digits=[3], latent_dim=8, g_layers=[32], d_layers=[32])
checkpoints.load(checkpoints.to_bytes(cfg, *nets.build(cfg)))  # warm every code path in both runs
slowest, messages = 0.0, []
for path in sys.argv[1:]:  # none for the baseline
    t0 = time.perf_counter()
    try:
        checkpoints.load(Path(path).read_bytes())
    except checkpoints.CheckpointError as e:
        messages.append(str(e))
    slowest = max(slowest, time.perf_counter() - t0)
print(json.dumps({"peak_kb": peak_kb(), "slowest": slowest, "messages": messages}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_a_tiny_upload_declaring_the_largest_networks_is_refused_without_growing_the_process(tmp_path):
    largest = GANConfig(latent_dim=512, conditional=True, g_layers=[4096] * 3, d_layers=[4096] * 2,
                        g_batchnorm=True, d_batchnorm=True)
    too_large = GANConfig(latent_dim=512, conditional=True, g_layers=[4096] * 6, d_layers=[4096] * 6)
    blobs = [framed({"__metadata__": {"format": checkpoints.FORMAT, "config": c.to_json()}})
             for c in (largest, too_large)] + [declared(largest), declared(too_large)]
    paths = []
    for i, blob in enumerate(blobs):
        paths.append(tmp_path / f"upload{i}.safetensors")
        paths[-1].write_bytes(blob)

    def probe(*files) -> dict:  # a fresh process, so its peak memory is this load's alone
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
        out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, *map(str, files)], capture_output=True, text=True,
                             env=env, timeout=120, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    baseline, hostile = probe(), probe(*paths)
    assert len(hostile["messages"]) == 4, hostile["messages"]  # all four refused
    assert max(map(len, blobs)) < 16_000 and hostile["slowest"] < 1
    assert (hostile["peak_kb"] - baseline["peak_kb"]) / 1024 < 50, (baseline, hostile)
