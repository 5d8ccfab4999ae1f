"""`bench throughput`: the trainer's images per second against the peer reference loop run beside it, and
against the GEMM bound (this machine's matrix-multiply rate over the FLOPs one image costs per step)."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from .. import data
from ..config import Budget, GANConfig
from ..trainer import Trainer
from .report import machine, write

PEER = Path(__file__).resolve().parents[3] / "shared" / "peers" / "pytorch_gan_reference.py"
# The reference architecture of the peer scripts: G 100-128-256-512-1024-784 with batch norm, D 784-512-256-1.
REFERENCE = dict(digits=[3], latent_dim=100, g_layers=[128, 256, 512, 1024], d_layers=[512, 256], g_batchnorm=True,
                 bn_momentum=0.2, leaky_slope=0.2, d_dropout=0.0, g_ema=0.0, output="tanh", loss="nonsaturating",
                 g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999, batch_size=64, snapshot_every=100_000)



def add_parser(bsub):
    th = bsub.add_parser("throughput", help="trainer images/s against the peer reference loop, and the GEMM bound")
    th.add_argument("--seconds", type=float, default=15.0, help="timed training seconds per measurement")
    th.add_argument("--peer", type=Path, default=PEER, help="the peer reference script (run beside ours)")
    th.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every measurement (medians)")
    th.add_argument("--out", type=Path, default=Path("bench-throughput.json"))
    return th


def run(args) -> int:
    threads = torch.get_num_threads()
    per_image = flops_per_image(REFERENCE["latent_dim"], REFERENCE["g_layers"], REFERENCE["d_layers"])
    peer_epochs = peer_epochs_for(args.peer, args.seconds) if args.peer.is_file() else None
    # Rounds interleave every measurement, so a slow spell of this shared machine hits both sides; medians.
    rounds: dict[str, list[float]] = {"gemm": [], "ours_batch64": [], "ours_batch256": [], "peer_batch64": []}
    for i in range(args.rounds):
        rounds["gemm"].append(gemm_flops())
        for batch in (64, 256):
            rounds[f"ours_batch{batch}"].append(trainer_images_per_second(dict(REFERENCE, batch_size=batch),
                                                                          args.seconds))
        if peer_epochs:
            rounds["peer_batch64"].append(peer_images_per_second(args.peer, peer_epochs))
        print(f"  round {i + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in rounds.items() if v),
              flush=True)
    gemm = statistics.median(rounds["gemm"])
    rows = {f"ours_batch{batch}": {"images_per_second": round(ips), "gemm_share": round(ips * per_image / gemm, 3)}
            for batch in (64, 256) for ips in [statistics.median(rounds[f"ours_batch{batch}"])]}
    peer = statistics.median(rounds["peer_batch64"]) if rounds["peer_batch64"] else None
    report = {"machine": machine(), "threads": threads, "rounds": args.rounds, "gemm_gflops": round(gemm / 1e9, 1),
              "flops_per_image": per_image, "gemm_bound_images_per_second": round(gemm / per_image),
              "peer_batch64_images_per_second": None if peer is None else round(peer), **rows}
    if peer:
        report["ratio_batch64"] = round(rows["ours_batch64"]["images_per_second"] / peer, 2)
        report["ratio_batch64_per_round"] = [round(o / p, 2) for o, p in zip(rounds["ours_batch64"],
                                                                             rounds["peer_batch64"])]
    for key, value in report.items():
        print(f"{key:<32} {value}")
    write(args.out, report)
    return 0


def flops_per_image(latent_dim: int, g_layers: list[int], d_layers: list[int]) -> int:
    """Matrix-multiply FLOPs one real image costs in one trainer step (d_steps = 1), counted from layer sizes:
    G forward once, backward once (2x); D forward on real and fake, backward with weight gradients (2x each);
    D forward on the fake again for G's step and backward to its input only (1x)."""
    g = sum(a * b for a, b in zip([latent_dim, *g_layers], [*g_layers, 784]))
    d = sum(a * b for a, b in zip([784, *d_layers], [*d_layers, 1]))
    return 2 * (3 * g + 8 * d)


def gemm_flops(size: int = 1024, seconds: float = 2.0) -> float:
    """The machine's float32 matrix-multiply rate with this process's threads (FLOP/s), from size^3 products."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        torch.mm(a, b)
        n += 1
    return 2 * size**3 * n / (time.perf_counter() - t0)


def trainer_images_per_second(settings: dict, seconds: float) -> float:
    trainer = Trainer(GANConfig.from_dict(settings), data.load())
    # Warm-up (allocator, kernel set-up) by time, not steps, so a slow spell at the start is not timed.
    trainer.run(Budget("seconds", min(2.0, seconds)))
    images, start = trainer.images_seen, trainer.seconds
    trainer.run(Budget("seconds", start + seconds))
    return (trainer.images_seen - images) / (trainer.seconds - start)


def _peer_run(script: Path, epochs: int) -> tuple[float, float]:
    """Run the peer script (it prints its time and images_per_second at the end): (seconds, images/s)."""
    out = subprocess.run([sys.executable, str(script), "--digits", "3", "--epochs", str(epochs)],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"seconds=([\d.]+) images_per_second=(\d+)", out)
    return float(m.group(1)), float(m.group(2))


def peer_epochs_for(script: Path, seconds: float) -> int:
    """How many epochs of the peer script take about `seconds` (one epoch timed, which also warms up)."""
    took, _ = _peer_run(script, 1)
    return max(1, round(seconds / max(took, 1e-3)))


def peer_images_per_second(script: Path, epochs: int) -> float:
    return _peer_run(script, epochs)[1]
