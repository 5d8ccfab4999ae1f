import threading
import time

import numpy as np
import pytest
import torch

from explorer import data


def test_embedded_sample_has_500_of_each_digit():
    d = data.load("embedded")
    assert d.images.shape == (5000, 784) and d.images.dtype == torch.uint8
    assert torch.bincount(d.labels, minlength=10).tolist() == [500] * 10
    assert "embedded" in d.description and d.images.max() == 255


def test_disk_cache_makes_a_second_start_fast(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path))
    first = data._embedded_arrays()
    assert (tmp_path / "mnist_5k.npz").exists()
    t0 = time.perf_counter()
    second = data._embedded_arrays()
    assert time.perf_counter() - t0 < 0.5
    assert (first[0] == second[0]).all() and (first[1] == second[1]).all()


def test_threads_starting_together_decode_once_and_share_one_whole_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path))
    decode, decodes = data._decode_embedded, []
    monkeypatch.setattr(data, "_decode_embedded", lambda: decodes.append(1) or decode())
    start, results = threading.Barrier(6), []

    def first_start():
        start.wait()
        results.append(data._embedded_arrays())
    threads = [threading.Thread(target=first_start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and len(decodes) == 1
    for images, labels in results:
        assert np.array_equal(images, results[0][0]) and np.array_equal(labels, results[0][1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist_5k.npz"]  # no temporary file left behind


def test_parallel_cache_writes_use_their_own_temporary_names(tmp_path):
    """Processes do not share the lock: each writes its own temporary file, and os.replace keeps one whole."""
    images, labels = np.arange(784 * 3, dtype=np.uint8).reshape(3, 784), np.arange(3)
    target = tmp_path / "mnist_5k.npz"
    start = threading.Barrier(8)

    def write():
        start.wait()
        data._write_cache(target, images, labels)
    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.name for p in tmp_path.iterdir()] == ["mnist_5k.npz"]
    with np.load(target) as f:
        assert np.array_equal(f["images"], images) and np.array_equal(f["labels"], labels)


def test_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path))
    (tmp_path / "mnist_5k.npz").write_bytes(b"PK\x03\x04 half a file")
    images, labels = data._embedded_arrays()
    assert images.shape == (5000, 784) and len(labels) == 5000
    with np.load(tmp_path / "mnist_5k.npz") as f:
        assert np.array_equal(f["labels"], labels)


def test_full_mnist_offline_names_both_ways_out(tmp_path):
    with pytest.raises(data.DataError) as e:
        data.load("full", root=str(tmp_path / "nothing-here"))
    msg = str(e.value)
    assert "--data-root" in msg and "GAN_EXPLORER_DATA" in msg and "--download" in msg
    with pytest.raises(data.DataError, match="--data-root"):
        data.load("full", root=None)


@pytest.mark.parametrize("output, lo, hi", [("tanh", -1.0, 1.0), ("sigmoid", 0.0, 1.0)])
def test_batches_hold_only_chosen_digits_in_the_output_range(output, lo, hi):
    b = data.DigitBatches(data.load(), [2, 7], output, 32, generator=torch.Generator().manual_seed(0))
    assert len(b) == 1000 and set(b.y.unique().tolist()) == {2, 7}
    assert b.x.min() == lo and b.x.max() == hi
    seen = torch.cat([b.next()[1] for _ in range(b.batches_per_epoch)])
    assert len(seen) == 31 * 32 and b.epoch == 0
    b.next()
    assert b.epoch == 1


def test_each_epoch_is_a_fresh_permutation():
    b = data.DigitBatches(data.load(), [0], "tanh", 100, generator=torch.Generator().manual_seed(0))
    first = torch.cat([b.next()[0] for _ in range(5)])
    second = torch.cat([b.next()[0] for _ in range(5)])
    assert not torch.equal(first, second)
    assert torch.allclose(first.sum(0), second.sum(0), atol=1e-3)  # the same 500 images, in another order


def test_scale_round_trips():
    x = torch.arange(256, dtype=torch.uint8)
    for output in ("tanh", "sigmoid"):
        assert torch.equal(data.to_uint8(data.scale(x, output), output), x)
