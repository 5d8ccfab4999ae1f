"""`python -m explorer sweep`: try many settings of one preset at once (explorer.app.sweeps), and write what each
trial scored, with the best one's checkpoint beside the JSON.

    python -m explorer sweep --preset default --digits 3 --vary g_lr=1e-5:1e-2:log \\
        --vary loss=nonsaturating,hinge,lsgan --trials 12 --steps 1500 --prune --out sweep.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from .. import checkpoints, data, presets
from ..app.backend import Backend, BackendUnavailable
from ..app.limits import Limits, default_threads, usable_cores
from ..app.vary import parse_varies
from ..config import Budget, GANConfig

# Optuna (explorer.app.sweeps) is imported only when a sweep runs: every other command starts without it.
FIGURES = ("fid", "looks_real", "read_as")


def add_parser(sub) -> argparse.ArgumentParser:
    s = sub.add_parser("sweep", help="try many settings at once (Optuna), each trial a training job; write JSON and "
                       "the best trial's checkpoint")
    s.add_argument("--preset", default="default", help="a name from `presets`: the base setup")
    s.add_argument("--digits", help="comma list, e.g. 3 or 0,1,2")
    s.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="any config field of the base setup, e.g. --set batch_size=32")
    s.add_argument("--vary", action="append", default=[], required=True, metavar="SPEC",
                   help="name=low:high[:log] for a range, name=a,b,c for choices (layer lists: 128;256,512)")
    s.add_argument("--trials", type=int, default=12)
    length = s.add_mutually_exclusive_group(required=True)
    length.add_argument("--steps", type=int, help="each trial's budget in steps")
    length.add_argument("--seconds", type=float, help="each trial's budget in seconds of training time")
    s.add_argument("--prune", action="store_true", help="stop trials clearly worse than the median partway")
    s.add_argument("--slots", type=int, default=1, help="trials training at once")
    s.add_argument("--figure", default="fid",
                   help="what to optimise: fid (lower is better), looks_real or read_as (higher is better)")
    s.add_argument("--storage", help="an Optuna storage URL (sqlite:///sweeps.db) to keep the study and go on with "
                   "it later (default: in memory)")
    s.add_argument("--name", default="sweep", help="the study's name in --storage")
    s.add_argument("--ray-address", help="train the trials on this Ray cluster (as GAN_EXPLORER_RAY_ADDRESS)")
    s.add_argument("--out", required=True, type=Path, help="the JSON file; the best checkpoint goes beside it")
    s.set_defaults(run=run)
    return s


def run(args) -> int:
    import optuna

    from ..app.sweeps import Sweep, SweepSpec

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial comes from print_trial instead
    base = base_config(args)
    varies = parse_varies(args.vary, base)  # ConfigError naming the setting: exit 2
    budget = Budget("steps", args.steps) if args.steps is not None else Budget("seconds", args.seconds)
    spec = SweepSpec(base, varies, budget, args.trials, args.figure, args.prune, args.slots, args.storage, args.name)
    spec.check()
    try:
        backend = make_backend(args, base)
    except BackendUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    plan = "grid" if spec.grid is not None else "TPE"
    print(f"sweep of {args.trials} trials ({plan}) over {', '.join(v.text() for v in varies)}, each "
          f"{budget.amount:g} {budget.kind}, {args.slots} at once, optimising {args.figure}", flush=True)
    try:
        result = Sweep(spec, backend, on_trial=print_trial).run()
    finally:
        backend.close(wait=5.0)
    report = write(result, args.out)
    best = report["best"]
    found = "no trial completed" if best is None else f"best: {best['params']} ({args.figure} {best['figure']:.4g})"
    print(f"{len(result.trials)} trials, {result.pruned} pruned, in {result.wall_seconds:.0f}s; {found}; "
          f"wrote {args.out}", flush=True)
    return 0 if best is not None else 1


def base_config(args) -> GANConfig:
    changes = {"digits": args.digits} if args.digits is not None else {}
    cfg = presets.get(args.preset).config(**changes).with_settings(args.settings)
    return cfg.replace(data=data.default_source())


def make_backend(args, base: GANConfig) -> Backend:
    """Ray when asked for (as the app chooses it: explorer.app.backends), else threads of this process: as many
    job slots as the sweep uses, each with its share of the cores."""
    if args.ray_address:
        from ..app import backends

        return backends.from_env(environ={**os.environ, "GAN_EXPLORER_RAY_ADDRESS": args.ray_address})
    from ..app.threads import ThreadBackend

    limits = Limits.from_env()
    limits = dataclasses.replace(limits, max_jobs=args.slots, torch_threads=default_threads(usable_cores(), args.slots))
    return ThreadBackend(limits, data=data.load(base.data))


def print_trial(t) -> None:
    """One line for an explorer.app.sweeps.TrialRecord as it ends."""
    figure = "-" if t.value is None else f"{t.value:.4g}"
    print(f"trial {t.number:>3} {t.state:8s} {figure:>8}  {t.params}" + (f"  ({t.note})" if t.note else ""),
          flush=True)


def write(result, out: Path) -> dict:
    """The JSON of an explorer.app.sweeps.SweepResult, and the best trial's checkpoint beside it (its path in
    best.checkpoint)."""
    report = result.to_dict()
    out.parent.mkdir(parents=True, exist_ok=True)
    if report["best"] is not None and result.best_model is not None:
        model = result.best_model
        path = checkpoints.save(out.with_name(f"{out.stem}-best.safetensors"), model.cfg, model.G, model.D,
                                {**model.meta, "sweep_trial": result.best.number})
        report["best"]["checkpoint"] = str(path)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report
