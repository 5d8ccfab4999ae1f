"""The shipped digit classifier (explorer/classifier.py): small, documented, read without pickle, accurate."""

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from explorer import classifier, data


@pytest.fixture(scope="module")
def clf():
    return classifier.load_classifier()


def test_weights_file_is_small_and_documented():
    assert classifier.WEIGHTS.stat().st_size < 2 * 1024 * 1024
    record = json.loads(classifier.WEIGHTS.with_suffix(".json").read_text())
    assert record["held_out_accuracy"] >= 0.97
    assert "train-classifier" in record["command"]


def test_loads_from_safetensors_without_pickle(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the classifier must not be unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    classifier.load_weights.cache_clear()
    model = classifier.load_classifier()
    assert not model.training
    assert classifier.load_classifier("cpu") is model  # cached: one instance per process and device


def test_classifies_held_out_digits(clf):
    _, held = data.classifier_split(data.load("embedded"))
    assert classifier.accuracy(clf, held.images, held.labels) >= 0.95


def test_shapes(clf):
    x = torch.rand(5, 784)
    assert clf(x).shape == (5, 10)
    assert clf(x.reshape(5, 1, 28, 28)).shape == (5, 10)
    assert 64 <= clf.features(x).shape[1] <= 128


def test_rejects_wrong_shapes(tmp_path):
    tensors = classifier.DigitClassifier().state_dict()
    tensors["fc.weight"] = torch.zeros(10, 576)
    path = tmp_path / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    with pytest.raises(classifier.ClassifierError, match=r"'fc.weight' has shape \(10, 576\), expected \(128, 576\)"):
        classifier.load_classifier(path=path)


def test_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(classifier.ClassifierError, match="train-classifier"):
        classifier.load_classifier(path=tmp_path / "none.safetensors")
    save_file({"weight": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(classifier.ClassifierError, match="missing"):
        classifier.load_classifier(path=tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(classifier.ClassifierError, match="not a readable"):
        classifier.load_classifier(path=tmp_path / "junk.safetensors")
