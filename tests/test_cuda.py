"""The CUDA path: run where a GPU is present (`pytest tests/test_cuda.py` on a GPU machine), skipped elsewhere.

What issue 6 asks of it: the nets and the data live on the GPU, the step asks the host for nothing beyond
its one read of the metrics, and runs, meters and checkpoints work there as on the CPU.
"""

import warnings

import pytest
import torch

from explorer import checkpoints
from explorer.config import Budget
from explorer.progress import Status
from explorer.trainer import Trainer
from tiny import tiny

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


def test_auto_puts_the_nets_the_data_and_the_latents_on_the_gpu(digits):
    trainer = Trainer(tiny(device="auto"), digits)
    assert trainer.device.type == "cuda"
    for net in (trainer.G, trainer.D, trainer.generator):
        assert all(p.is_cuda for p in net.parameters())
    assert trainer.batches.x.is_cuda and trainer.batches.next()[0].is_cuda
    assert trainer._z(4).is_cuda
    assert not trainer.state().latest.images.is_cuda  # what the page draws comes back to the host


@pytest.mark.parametrize("loss", ["nonsaturating", "wgan-gp", "wgan"])
def test_a_step_syncs_with_the_host_at_most_once(digits, loss):
    trainer = Trainer(tiny(device="cuda", loss=loss, snapshot_every=10_000, batch_size=16), digits)
    trainer.step()  # the first step allocates and warms up kernels
    steps = 20  # 320 images: no new epoch (which draws a permutation on the host)
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            for _ in range(steps):
                trainer.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in seen if "synchroniz" in str(w.message)]
    assert len(syncs) <= steps, [str(w.message) for w in syncs[:5]]


def test_a_run_with_the_meter_finishes_and_its_checkpoint_loads_on_the_cpu(digits, tmp_path):
    trainer = Trainer(tiny(device="cuda", latent_dim=16, g_layers=[64], d_layers=[64]), digits, measure=True)
    trainer.run(Budget("steps", 200))
    assert trainer.status == Status.FINISHED and trainer.step_count == 200
    readings = trainer.state().readings
    assert len(readings) >= 2 and readings[-1].step == 200 and 0 <= readings[-1].looks_real <= 1
    assert not readings[-1].d_fake.is_cuda
    path = checkpoints.save_trainer(trainer, tmp_path / "run.safetensors")
    loaded = checkpoints.load(path, device="cpu")
    assert all(not p.is_cuda for p in loaded.G.parameters())
    assert torch.isfinite(loaded.G(torch.randn(4, 16))).all()
