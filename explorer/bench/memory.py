"""`bench memory`: the memory estimate (explorer.memory) against the peak resident memory of real runs.

Each config trains a few steps in a fresh process, in a worker thread with the process settings a server uses
(explorer.app.limits.tune_process: one torch thread, one malloc arena), with a snapshot (and so the guards'
copies) every few steps and the quality meter on, as a job on the server runs. What the process held before the
trainer was built (torch, the data, the classifier shared by every job) is measured first and taken off: the
figure compared is what the job added at its peak (VmHWM, reset after the baseline through /proc/self/clear_refs).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from ..config import GANConfig
from ..memory import estimate
from .report import machine, write

# Setups that load each part of the estimate in turn: the default, batch-heavy, weight-heavy, dropout and batch
# norm, the gradient penalty, conditional, SGD with momentum, the largest that fits a checkpoint.
CONFIGS: dict[str, dict] = {
    "default": {"g_ema": 0.999, "d_dropout": 0.3, "g_lr": 5e-4, "d_lr": 5e-4},
    "batch 1024, WGAN-GP": {"batch_size": 1024, "loss": "wgan-gp", "digits": [0, 1, 2, 3]},
    "wide 2048x2, batch 256": {"g_layers": [2048, 2048], "d_layers": [2048, 2048], "batch_size": 256,
                               "digits": [1, 7]},
    "1024x3, dropout, batch norm, conditional": {"g_layers": [1024] * 3, "d_layers": [1024] * 3, "batch_size": 512,
                                                 "g_batchnorm": True, "d_batchnorm": True, "d_dropout": 0.3,
                                                 "conditional": True, "digits": list(range(10))},
    "4096x2, batch 2048, WGAN-GP, SGD": {"g_layers": [4096, 4096], "d_layers": [4096, 2048], "batch_size": 2048,
                                         "loss": "wgan-gp", "g_optimizer": "sgd", "d_optimizer": "sgd",
                                         "momentum": 0.9, "digits": list(range(10))},
}
STEPS = 12
SNAPSHOT_EVERY = 4


def add_parser(bsub):
    m = bsub.add_parser("memory", help="the memory estimate against measured peak RSS, each run in a fresh process")
    m.add_argument("--only", metavar="NAME[;NAME]", help="semicolon list of config names (default: all)")
    m.add_argument("--steps", type=int, default=STEPS)
    m.add_argument("--out", type=Path, default=Path("bench-memory.json"))
    return m


def config(changes: dict) -> GANConfig:
    return GANConfig.from_dict({"snapshot_every": SNAPSHOT_EVERY, **changes})


def run(args) -> int:
    names = args.only.split(";") if args.only else list(CONFIGS)
    rows = []
    for name in names:
        cfg = config(CONFIGS[name])
        measured = measure_peak(cfg, args.steps)
        est = estimate(cfg, measure=True)
        ratio = est.total / measured["job_peak_bytes"]
        rows.append({"config": name, "estimate_mb": round(est.total / 2**20), "measured_mb":
                     round(measured["job_peak_bytes"] / 2**20), "ratio": round(ratio, 3),
                     "parts_mb": {k: round(v / 2**20) for k, v in est.parts().items()},
                     "baseline_mb": round(measured["baseline_bytes"] / 2**20)})
        print(f"{name:<42} estimate {rows[-1]['estimate_mb']:>6,} MB  measured {rows[-1]['measured_mb']:>6,} MB  "
              f"ratio {ratio:.2f}", flush=True)
    write(args.out, {"machine": machine(), "steps": args.steps, "rows": rows})
    return 0


def measure_peak(cfg: GANConfig, steps: int = STEPS, timeout: float = 900) -> dict:
    """Train `cfg` for `steps` in a fresh process; what the job added to its resident memory at the peak."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "explorer.bench.memory", cfg.to_json(), str(steps)],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=Path(__file__).resolve().parents[2])
    if done.returncode != 0:
        raise RuntimeError(f"the memory probe failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _status_kb(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())[1]) * 1024


def _child(cfg_json: str, steps: int) -> None:
    import gc
    import threading

    from .. import data, quality
    from ..app.limits import Limits, tune_process
    from ..config import Budget
    from ..trainer import Trainer

    tune_process(Limits(max_jobs=1, torch_threads=1))
    cfg = GANConfig.from_json(cfg_json)
    digits = data.load(cfg.data)
    quality.warm(digits.source)  # the classifier and the real digits' statistics: once per server, not per job
    gc.collect()
    baseline = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS now

    def job():  # as explorer.app.threads.ThreadJob trains: built and run in its worker thread
        Trainer(cfg, digits, measure=True).run(Budget("steps", steps))

    worker = threading.Thread(target=job)
    worker.start()
    worker.join()
    peak = _status_kb("VmHWM")
    print(json.dumps({"baseline_bytes": baseline, "peak_bytes": peak, "job_peak_bytes": peak - baseline}))


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]))
