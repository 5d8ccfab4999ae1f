"""`bench latent`: the server time of the latent pages: one slider move, a 16-frame strip, and a whole page
rerun through Streamlit's AppTest."""

from __future__ import annotations

import atexit
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from .. import data, demos, images, inversion, latent
from ..directions import principal_directions
from ..reader import load_reader
from .report import machine, write

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"


def add_parser(bsub):
    lat = bsub.add_parser("latent", help="server time for a latent slider move and a 16-frame strip")
    lat.add_argument("--demo", default="three", help="the shipped demo model to time")
    lat.add_argument("--repeats", type=int, default=50)
    lat.add_argument("--out", type=Path, default=Path("bench-latent.json"))
    return lat


def run(args) -> int:
    ckpt = demos.load(args.demo)
    G, D, cfg = ckpt.G, ckpt.D, ckpt.cfg
    reader = load_reader()
    pool = inversion.real_images(data.load(), cfg.digits)
    typical = inversion.typical_nearest(pool)
    found = principal_directions(G, cfg)
    z = latent.point(cfg, 0)

    def slider_move():  # what the Latent space page computes for one move
        seen = latent.look(G, cfg, z, None, D, reader)
        hood = latent.generate(G, cfg, latent.neighbourhood(z, found.vectors[0], found.vectors[1], 0.5))
        near = inversion.nearest_real(seen.images[0], pool, typical)
        for picture in (images.grid(seen.images, scale=10), images.grid(hood, nrow=3, scale=2),
                        images.grid(torch.stack([seen.images[0], near.image]), scale=3)):
            images.png_bytes(picture)

    def strip():  # 16 frames, lerp and slerp, each read by D and the classifier
        a, b = latent.point(cfg, 1), latent.point(cfg, 2)
        for mode in ("lerp", "slerp"):
            seen = latent.look(G, cfg, latent.interpolate(a, b, 16, mode), None, D, reader)
            images.grid_png(seen.images, nrow=16, scale=2)

    rows = {"slider_move_ms": _time(slider_move, args.repeats), "strip_16_ms": _time(strip, args.repeats),
            "page_rerun_ms": _page_rerun_ms(args.demo, min(args.repeats, 10))}
    for name, ms in rows.items():
        print(f"{name:<16} {ms:8.1f} ms (median of {args.repeats if name != 'page_rerun_ms' else 10})")
    write(args.out, {"machine": machine(), "demo": args.demo, **rows})
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
    fragment, so this is an upper bound on the server's time). AppTest is Streamlit's test harness: it runs the
    app as a browser would, so this measurement needs it, while no code here draws anything."""
    from streamlit.testing.v1 import AppTest  # noqa: TID251 - the harness that drives the app, not a view

    # The app keeps its runs in a store: a throwaway one here, never the user's (removed when the process ends).
    home = tempfile.mkdtemp(prefix="gan-bench-latent-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ.pop("GAN_EXPLORER_DATABASE_URL", None)
    os.environ["GAN_EXPLORER_HOME"] = home
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.query_params["model"] = demo
    at.switch_page("pages/latent.py").run()
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        at.slider(key="lat_z_0").set_value(round(-2 + 4 * i / max(1, repeats - 1), 2)).run()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)
