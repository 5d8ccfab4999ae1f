"""Benchmarks: `python -m explorer bench quality` measures the quality targets on this machine, and
`bench latent` the server time of the latent pages (a slider move, a 16-frame strip).

Quality is scored by the metrics classifier on 1,000 samples at intervals of training time;
the clock counts training only, not the scoring in between.
"""

from __future__ import annotations

import gc
import json
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

from . import data, images, latent, presets
from .config import GANConfig
from .training import Budget, Trainer

RECOGNISED = 0.95
APP_CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"
PEER = Path(__file__).resolve().parents[2] / "shared" / "peers" / "pytorch_gan_reference.py"
# The reference architecture of the peer scripts: G 100-128-256-512-1024-784 with batch norm, D 784-512-256-1.
REFERENCE = dict(digits=[3], latent_dim=100, g_layers=[128, 256, 512, 1024], d_layers=[512, 256], g_batchnorm=True,
                 bn_momentum=0.2, leaky_slope=0.2, d_dropout=0.0, g_ema=0.0, output="tanh", loss="nonsaturating",
                 g_lr=2e-4, d_lr=2e-4, beta1=0.5, beta2=0.999, batch_size=64, snapshot_every=100_000)


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="measure speed and quality targets on this machine (no subcommand: all four)")
    bsub = b.add_subparsers(dest="bench")
    b.set_defaults(run=lambda args: cmd_all(bsub.choices))
    q = bsub.add_parser("quality", help="time to recognisable digits and Frechet distance vs the real floor")
    q.add_argument("--presets", default="default", help="comma list of presets, or 'all'")
    q.add_argument("--digits", default="3;0,1,2,3,4,5,6,7,8,9",
                   help="digit sets separated by ';' (default: 3, then all ten)")
    q.add_argument("--seconds", type=float, default=60.0, help="training seconds per run")
    q.add_argument("--every", type=float, default=5.0, help="training seconds between scorings")
    q.add_argument("--n", type=int, default=1000, help="samples scored each time")
    q.add_argument("--out", type=Path, default=Path("bench-quality.json"))
    q.set_defaults(run=cmd_quality)
    lat = bsub.add_parser("latent", help="server time for a latent slider move and a 16-frame strip")
    lat.add_argument("--demo", default="three", help="the shipped demo model to time")
    lat.add_argument("--repeats", type=int, default=50)
    lat.add_argument("--out", type=Path, default=Path("bench-latent.json"))
    lat.set_defaults(run=cmd_latent)
    th = bsub.add_parser("throughput", help="trainer images/s against the peer reference loop, and the GEMM bound")
    th.add_argument("--seconds", type=float, default=15.0, help="timed training seconds per measurement")
    th.add_argument("--peer", type=Path, default=PEER, help="the peer reference script (run beside ours)")
    th.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every measurement (medians)")
    th.add_argument("--out", type=Path, default=Path("bench-throughput.json"))
    th.set_defaults(run=cmd_throughput)
    ov = bsub.add_parser("overhead", help="training throughput while a page polls the job, against headless")
    ov.add_argument("--seconds", type=float, default=20.0)
    ov.add_argument("--post-script-gc", choices=["config", "on", "off"], default="config",
                    help="end each poll with Streamlit's full garbage collection: as .streamlit/config.toml says "
                         "(runner.postScriptGC), or force it on or off to compare")
    ov.add_argument("--out", type=Path, default=Path("bench-overhead.json"))
    ov.set_defaults(run=cmd_overhead)


# What a bare `bench` runs, in order, with the arguments each gets (the rest are its defaults).
ALL = (("throughput", []), ("quality", ["--presets", "all", "--digits", "3"]), ("overhead", []), ("latent", []))


def cmd_all(parsers: dict, out: Path = Path("bench.json")) -> int:
    """Every benchmark in one run on this machine; each prints its table, and all go into one JSON."""
    report = {}
    for name, argv in ALL:
        args = parsers[name].parse_args(argv)
        print(f"== bench {name} ==", flush=True)
        if args.run(args) != 0:
            return 1
        report[name] = json.loads(args.out.read_text())
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


def cmd_quality(args) -> int:
    names = list(presets.PRESETS) if args.presets == "all" else args.presets.split(",")
    digit_sets = [[int(d) for d in s.split(",")] for s in args.digits.split(";") if s]
    source = data.load()
    rows = [quality_run(name, digits, source, args.seconds, args.every, args.n)
            for name in names for digits in digit_sets]
    print_table(rows)
    report = {"machine": machine(), "data": source.description, "seconds": args.seconds, "runs": rows}
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


def quality_run(preset: str, digits: list[int], source: data.Digits, seconds: float, every: float, n: int) -> dict:
    from . import metrics

    cfg = presets.get(preset).config(digits=digits)
    trainer = Trainer(cfg, source)
    first_ok, curve = None, []
    while trainer.seconds < seconds:
        trainer.run(Budget("seconds", min(seconds, trainer.seconds + every)))
        q = metrics.score(latent.sample(trainer.generator, cfg, n, seed=123), digits)
        curve.append({"seconds": round(trainer.seconds, 1), "step": trainer.step_count,
                      "recognised": q.share, "frechet": q.fid})
        print(f"  {preset} digits={_digits(digits)} t={trainer.seconds:5.1f}s step={trainer.step_count} "
              f"recognised={q.share:.3f} frechet={q.fid:.2f} (floor {q.fid_floor:.2f})", flush=True)
        if first_ok is None and q.share >= RECOGNISED:
            first_ok = trainer.seconds
        if trainer.status in ("diverged", "collapsed"):
            break
    hist = q.histogram
    return {"preset": preset, "digits": digits, "status": trainer.status, "steps": trainer.step_count,
            "train_seconds": round(trainer.seconds, 1),
            "images_per_second": round(trainer.images_seen / max(trainer.seconds, 1e-9)),
            "seconds_to_95": None if first_ok is None else round(first_ok, 1),
            "recognised": round(q.share, 4), "frechet": round(q.fid, 3), "floor": round(q.fid_floor, 3),
            "frechet_over_floor": round(q.fid / q.fid_floor, 2) if q.fid_floor else None,
            "min_digit_share": round(min(hist[d] for d in digits), 4), "curve": curve}


def cmd_latent(args) -> int:
    from . import demos, metrics

    ckpt = demos.load(args.demo)
    G, D, cfg = ckpt.G, ckpt.D, ckpt.cfg
    classifier = metrics.load_classifier()
    pool = latent.real_images(data.load(), cfg.digits)
    typical = latent.typical_nearest(pool)
    found = latent.principal_directions(G, cfg)
    z = latent.point(cfg, 0)

    def slider_move():  # what the Latent space page computes for one move
        seen = latent.look(G, cfg, z, None, D, classifier)
        hood = latent.generate(G, cfg, latent.neighbourhood(z, found.vectors[0], found.vectors[1], 0.5))
        near = latent.nearest_real(seen.images[0], pool, typical)
        for picture in (images.grid(seen.images, scale=10), images.grid(hood, nrow=3, scale=2),
                        images.grid(torch.stack([seen.images[0], near.image]), scale=3)):
            images.png_bytes(picture)

    def strip():  # 16 frames, lerp and slerp, each read by D and the classifier
        a, b = latent.point(cfg, 1), latent.point(cfg, 2)
        for mode in ("lerp", "slerp"):
            seen = latent.look(G, cfg, latent.interpolate(a, b, 16, mode), None, D, classifier)
            images.grid_png(seen.images, nrow=16, scale=2)

    rows = {"slider_move_ms": _time(slider_move, args.repeats), "strip_16_ms": _time(strip, args.repeats),
            "page_rerun_ms": _page_rerun_ms(args.demo, min(args.repeats, 10))}
    for name, ms in rows.items():
        print(f"{name:<16} {ms:8.1f} ms (median of {args.repeats if name != 'page_rerun_ms' else 10})")
    args.out.write_text(json.dumps({"machine": machine(), "demo": args.demo, **rows}, indent=2))
    print(f"wrote {args.out}")
    return 0


def _time(fn, repeats: int) -> float:
    """Median wall milliseconds of fn() after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


def _page_rerun_ms(demo: str, repeats: int) -> float:
    """A slider move through Streamlit's AppTest: the whole Latent space page reruns (the browser reruns only its
    fragment, so this is an upper bound on the server's time)."""
    from streamlit.testing.v1 import AppTest

    app = Path(__file__).resolve().parent.parent / "streamlit_app.py"
    at = AppTest.from_file(str(app), default_timeout=120)
    at.run()
    at.query_params["model"] = demo
    at.switch_page("pages/latent.py").run()
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        at.slider(key="lat_z_0").set_value(round(-2 + 4 * i / max(1, repeats - 1), 2)).run()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


def print_table(rows: list[dict]) -> None:
    head = f"{'preset':<15} {'digits':<10} {'img/s':>7} {'t->95%':>7} {'recog':>6} {'FD':>7} {'floor':>6} " \
           f"{'FD/floor':>8} {'min share':>9}"
    print(head)
    print("-" * len(head))
    for r in rows:
        t95 = "-" if r["seconds_to_95"] is None else f"{r['seconds_to_95']:.0f}s"
        print(f"{r['preset']:<15} {_digits(r['digits']):<10} {r['images_per_second']:>7,} {t95:>7} "
              f"{r['recognised']:>6.3f} {r['frechet']:>7.2f} {r['floor']:>6.2f} {r['frechet_over_floor']:>8} "
              f"{r['min_digit_share']:>9.3f}")


def machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "when": time.strftime("%Y-%m-%d")}


def _digits(digits: list[int]) -> str:
    return "all" if sorted(digits) == list(range(10)) else ",".join(map(str, digits))


# ---- throughput ------------------------------------------------------------------------------
def cmd_throughput(args) -> int:
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
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
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


# ---- live-UI overhead -----------------------------------------------------------------------------
def cmd_overhead(args) -> int:
    """Train the default preset headless, then while a thread does a watching page's work once a second,
    with the torch threads the app gives a job (GAN_EXPLORER_* settings, as on the server)."""
    from .ui.jobs import Limits, tune_process

    tune_process(Limits.from_env())
    collect = _post_script_gc(args.post_script_gc)
    headless, _ = _job_rate(args.seconds, poll=False)
    polled, poll_ms = _job_rate(args.seconds, poll=True, collect=collect)
    report = {"machine": machine(), "headless_images_per_second": round(headless),
              "polled_images_per_second": round(polled), "overhead": round(1 - polled / headless, 4),
              "page_work_ms_per_poll": round(poll_ms, 1), "post_script_gc": collect}
    for key, value in report.items():
        print(f"{key:<28} {value}")
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


def _post_script_gc(choice: str) -> bool:
    """Whether the server ends each script run with gc.collect(2), as Streamlit's runner.postScriptGC does."""
    if choice != "config":
        return choice == "on"
    try:  # the app's own config file, wherever bench runs from
        import tomllib
    except ImportError:  # Python 3.10: Streamlit's reader, which looks in the working folder only
        from streamlit import config as st_config

        return bool(st_config.get_option("runner.postScriptGC"))
    settings = tomllib.loads(APP_CONFIG.read_text()) if APP_CONFIG.is_file() else {}
    return bool(settings.get("runner", {}).get("postScriptGC", True))  # Streamlit's default: on


def _job_rate(seconds: float, poll: bool, collect: bool = False) -> tuple[float, float]:
    from . import charts, quality
    from .losses import LOSSES
    from .ui.jobs import Job

    cfg = presets.get("default").config(digits=[3])
    trainer = Trainer(cfg, data.load(), measure=True)
    job = Job(trainer, Budget("seconds", seconds + 5))
    worker = threading.Thread(target=trainer.run, args=(job.budget,), daemon=True)
    worker.start()
    time.sleep(3)  # past the first reading and warm-up
    seen, start, wall = trainer.images_seen, trainer.seconds, time.perf_counter()
    work, shown = [], None
    while time.perf_counter() - wall < seconds:
        t0 = time.perf_counter()
        if poll:  # what the Train page's live fragment builds each second
            view = job.view()
            probabilities = LOSSES[cfg.loss].probabilities
            figs = [charts.loss_figure(view.history), charts.d_output_figure(view.history, probabilities),
                    charts.dynamics_figure(view.history)]
            if view.readings:
                last, series = view.readings[-1], quality.series(view.readings)
                figs += [charts.share_figure(series, cfg.digits), charts.fid_figure(series),
                         charts.class_figure(last.histogram, cfg.digits),
                         charts.d_histogram_figure(last.d_real.tolist(), last.d_fake.tolist(), True, series)]
            for fig in figs:
                fig.to_json()
            if view.snapshots[-1].step != shown:  # the page encodes each snapshot once
                shown = view.snapshots[-1].step
                images.grid_png(view.snapshots[-1].images, nrow=8, scale=2)
            if collect:
                gc.collect(2)
            work.append(time.perf_counter() - t0)
        time.sleep(1.0)
    rate = (trainer.images_seen - seen) / (trainer.seconds - start)
    trainer.stop()
    worker.join()
    return rate, 1000 * statistics.fmean(work) if work else 0.0
