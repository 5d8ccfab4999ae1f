"""`bench quality`: how soon each preset draws digits, scored by the metrics classifier on 1,000 samples at
intervals of training time (the clock counts training only, not the scoring in between). It records both
of the app's quality figures: the share read as the chosen digits, and the share that looks like real ones.
"""

from __future__ import annotations

from pathlib import Path

from .. import data, latent, metrics, presets
from ..config import Budget
from ..trainer import Trainer
from .report import digits_label, machine, write

TARGET = 0.95  # the share read as the chosen digits that "time to 95%" waits for


def add_parser(bsub):
    q = bsub.add_parser("quality", help="time to digits read as asked, looks-real share, Frechet distance vs floor")
    q.add_argument("--presets", default="default", help="comma list of presets, or 'all'")
    q.add_argument("--digits", default="3;0,1,2,3,4,5,6,7,8,9",
                   help="digit sets separated by ';' (default: 3, then all ten)")
    q.add_argument("--seconds", type=float, default=60.0, help="training seconds per run")
    q.add_argument("--every", type=float, default=5.0, help="training seconds between scorings")
    q.add_argument("--n", type=int, default=1000, help="samples scored each time")
    q.add_argument("--out", type=Path, default=Path("bench-quality.json"))
    return q


def run(args) -> int:
    names = list(presets.PRESETS) if args.presets == "all" else args.presets.split(",")
    digit_sets = [[int(d) for d in s.split(",")] for s in args.digits.split(";") if s]
    source = data.load()
    rows = [quality_run(name, digits, source, args.seconds, args.every, args.n)
            for name in names for digits in digit_sets]
    print_table(rows)
    write(args.out, {"machine": machine(), "data": source.description, "seconds": args.seconds, "runs": rows})
    return 0


def quality_run(preset: str, digits: list[int], source: data.Digits, seconds: float, every: float, n: int) -> dict:
    cfg = presets.get(preset).config(digits=digits)
    trainer = Trainer(cfg, source)
    first_ok, curve = None, []
    while trainer.seconds < seconds:
        trainer.run(Budget("seconds", min(seconds, trainer.seconds + every)))
        q = metrics.score(latent.sample(trainer.generator, cfg, n, seed=123), digits)
        curve.append({"seconds": round(trainer.seconds, 1), "step": trainer.step_count,
                      "read_as": q.read_as, "looks_real": q.looks_real, "frechet": q.fid})
        print(f"  {preset} digits={digits_label(digits)} t={trainer.seconds:5.1f}s step={trainer.step_count} "
              f"read_as={q.read_as:.3f} looks_real={q.looks_real:.3f} frechet={q.fid:.2f} "
              f"(floor {q.fid_floor:.2f})", flush=True)
        if first_ok is None and q.read_as >= TARGET:
            first_ok = trainer.seconds
        if trainer.status.failed:
            break
    hist = q.histogram
    return {"preset": preset, "digits": digits, "status": str(trainer.status), "steps": trainer.step_count,
            "train_seconds": round(trainer.seconds, 1),
            "images_per_second": round(trainer.images_seen / max(trainer.seconds, 1e-9)),
            "seconds_to_95_read_as": None if first_ok is None else round(first_ok, 1),
            "read_as": round(q.read_as, 4), "looks_real": round(q.looks_real, 4),
            "frechet": round(q.fid, 3), "floor": round(q.fid_floor, 3),
            "frechet_over_floor": round(q.fid / q.fid_floor, 2) if q.fid_floor else None,
            "min_digit_share": round(min(hist[d] for d in digits), 4), "curve": curve}


def print_table(rows: list[dict]) -> None:
    head = (f"{'preset':<15} {'digits':<10} {'img/s':>7} {'t->95%':>7} {'read as':>7} {'real':>6} {'FD':>7} "
            f"{'floor':>6} {'FD/floor':>8} {'min share':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        t95 = "-" if r["seconds_to_95_read_as"] is None else f"{r['seconds_to_95_read_as']:.0f}s"
        print(f"{r['preset']:<15} {digits_label(r['digits']):<10} {r['images_per_second']:>7,} {t95:>7} "
              f"{r['read_as']:>7.3f} {r['looks_real']:>6.3f} {r['frechet']:>7.2f} {r['floor']:>6.2f} "
              f"{r['frechet_over_floor']:>8} {r['min_digit_share']:>9.3f}")
