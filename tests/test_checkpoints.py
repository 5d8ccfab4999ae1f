import json
import pickle

import pytest
import torch

from explorer import checkpoints, data, latent
from explorer.checkpoints import CheckpointError
from explorer.config import Budget
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
        (blob[:40], "truncated"),
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
