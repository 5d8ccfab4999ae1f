"""The CLI's tiny-step runs double as smoke tests of the whole engine."""

import numpy as np
import pytest

from explorer import checkpoints
from explorer.cli import main
from tiny import tiny

TINY = ["--set", "g_layers=32", "--set", "d_layers=32", "--set", "batch_size=16", "--set", "latent_dim=8"]


def test_presets_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("default", "numpy-tutorial", "keras-dense", "minimal-tf", "minimal-tf-2d", "pytorch-bce",
                 "vanilla-smooth"):
        assert name in out


def test_train_sample_evaluate(tmp_path, capsys):
    ck = tmp_path / "m.safetensors"
    assert main(["train", "--preset", "default", "--digits", "1,7", "--steps", "20", "--out", str(ck),
                 "--set", "conditional=true", *TINY]) == 0
    out = capsys.readouterr().out
    assert "step" in out and "embedded MNIST" in out and "finished: 20 steps" in out
    npy = tmp_path / "s.npy"
    assert main(["sample", "--checkpoint", str(ck), "--n", "12", "--out", str(npy), "--digit", "7"]) == 0
    arr = np.load(npy)
    assert arr.shape == (12, 28, 28) and arr.dtype == np.uint8
    png = tmp_path / "s.png"
    assert main(["sample", "--checkpoint", str(ck), "--n", "16", "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, words", [
    (["train", "--digits", "", "--steps", "2", "--out", "x.safetensors"], "digits"),
    (["train", "--set", "g_layers=abc", "--steps", "2", "--out", "x.safetensors"], "g_layers"),
    (["train", "--set", "g_lr=3", "--steps", "2", "--out", "x.safetensors"], "g_lr"),
    (["train", "--preset", "nope", "--steps", "2", "--out", "x.safetensors"], "preset"),
    (["train", "--data", "full", "--data-root", "/nonexistent", "--steps", "2", "--out", "x.safetensors"],
     "--download"),
    (["sample", "--checkpoint", "missing.safetensors", "--out", "x.npy"], "no checkpoint"),
])
def test_bad_input_gives_a_message_and_exit_2(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert words in capsys.readouterr().err


def test_sample_refuses_a_digit_from_an_unconditional_model(tmp_path, capsys):
    ck = tmp_path / "u.safetensors"
    assert main(["train", "--steps", "2", "--out", str(ck), *TINY]) == 0
    assert main(["sample", "--checkpoint", str(ck), "--out", str(tmp_path / "x.npy"), "--digit", "3"]) == 2
    assert "not conditional" in capsys.readouterr().err


def test_train_classifier_reports_held_out_accuracy(tmp_path, capsys):
    out = tmp_path / "clf.safetensors"
    assert main(["train-classifier", "--epochs", "1", "--out", str(out)]) == 0
    report = capsys.readouterr().out
    assert '"held_out_accuracy"' in report and '"n_held_out": 500' in report
    assert out.exists() and out.with_suffix(".json").exists()


def test_evaluate_prints_the_metrics_as_json(tmp_path, capsys):
    import json
    ck = tmp_path / "e.safetensors"
    assert main(["train", "--steps", "2", "--out", str(ck), *TINY]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(ck), "--n", "300"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["digits"] == [3] and 0 <= result["looks_real"] <= result["read_as"] <= 1
    assert result["fid"] > result["fid_floor"]


def test_train_from_a_downloaded_config_replays_its_live_changes(tmp_path, capsys):
    cfg = tiny(live_changes=[{"step": 5, "g_lr": 1e-3}, {"step": 10, "loss": "hinge"}])
    config = tmp_path / "run-1-config.json"
    config.write_text(cfg.to_json())
    out = tmp_path / "again.safetensors"
    assert main(["train", "--config", str(config), "--steps", "15", "--out", str(out)]) == 0
    assert "training config run-1-config.json" in capsys.readouterr().out
    recorded = checkpoints.load(out).cfg
    assert recorded.live_changes == cfg.live_changes and recorded.g_lr == cfg.g_lr  # replayed, and recorded again
    config.write_text('{"config": ' + cfg.to_json() + ', "meta": {}}')  # a checkpoint's .json works too
    assert main(["train", "--config", str(config), "--steps", "2", "--out", str(out)]) == 0
    config.write_text("[" * 100_000)
    assert main(["train", "--config", str(config), "--steps", "2", "--out", str(out)]) == 2
    assert "config" in capsys.readouterr().err
