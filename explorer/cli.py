"""Command line: `python -m explorer train | sample | evaluate | presets | train-classifier | build-demos | bench |
sweep` (the sweep, which runs jobs through the services, in explorer/commands)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import checkpoints, data, images, latent, presets
from .config import Budget, ConfigError, GANConfig
from .progress import Status
from .trainer import Trainer


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except (ConfigError, data.DataError, checkpoints.CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m explorer", description="GAN Explorer's engine from the shell.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a GAN and write a checkpoint")
    t.add_argument("--preset", default="default", help="a name from `presets`")
    t.add_argument("--config", type=Path, help="a config file (the app's Config download, or a checkpoint's .json); "
                   "its recorded live changes are replayed. --digits and --set still apply on top of it")
    t.add_argument("--digits", help="comma list, e.g. 3 or 0,1,2")
    t.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="any config field, e.g. --set g_lr=1e-3 --set g_layers=128,256")
    length = t.add_mutually_exclusive_group(required=True)
    length.add_argument("--steps", type=int)
    length.add_argument("--epochs", type=int)
    length.add_argument("--seconds", type=float)
    t.add_argument("--out", required=True, type=Path, help="checkpoint path (.safetensors)")
    t.add_argument("--json", action="store_true", help="also write config and metadata as a .json beside it")
    _data_args(t)
    t.set_defaults(run=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a checkpoint into .npy or .png")
    s.add_argument("--checkpoint", required=True, type=Path)
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--out", required=True, type=Path, help="FILE.npy (N x 28 x 28 uint8, ink 255) or FILE.png")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--digit", type=int, help="for a conditional model: the digit to draw")
    s.set_defaults(run=cmd_sample)

    e = sub.add_parser("evaluate", help="score a checkpoint's samples with the metrics classifier (JSON)")
    e.add_argument("--checkpoint", required=True, type=Path)
    e.add_argument("--n", type=int, default=1000)
    e.add_argument("--seed", type=int, default=0)
    _data_args(e)
    e.set_defaults(run=cmd_evaluate)

    sub.add_parser("presets", help="list the presets").set_defaults(run=cmd_presets)

    c = sub.add_parser("train-classifier", help="train the metrics classifier (or, with --reader, the digit reader) "
                       "and report held-out accuracy")
    c.add_argument("--reader", action="store_true", help="train the digit reader (models/reader.safetensors)")
    c.add_argument("--epochs", type=int, default=None)
    c.add_argument("--out", type=Path, default=None)
    c.add_argument("--seed", type=int, default=0)
    _data_args(c)
    c.set_defaults(run=cmd_train_classifier)

    b = sub.add_parser("build-demos", help="train the demo generators shipped in models/ and record their scores")
    b.add_argument("--only", metavar="NAME[,NAME]", help="comma list of demo names (default: all)")
    b.set_defaults(run=cmd_build_demos)

    from . import bench
    from .commands import sweep
    bench.add_parser(sub)
    sweep.add_parser(sub)

    le = sub.add_parser("lessons", help="train each failure-mode lesson (and its fix) and check that it happens")
    le.add_argument("--only", nargs="+", metavar="NAME", help="these lessons (default: all)")
    le.add_argument("--no-fix", action="store_true", help="skip training the fixes")
    le.add_argument("--threads", type=int, default=1, help="torch threads (the app gives each job one on 2 cores)")
    le.add_argument("--json", type=Path, help="also write the outcomes here")
    le.set_defaults(run=cmd_lessons)
    return p


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", choices=data.SOURCES, help="embedded 5k sample or full MNIST (default: full "
                   f"when --data-root or {data.DATA_ENV} is set, else embedded)")
    p.add_argument("--data-root", help=f"folder with torchvision's MNIST (or set {data.DATA_ENV})")
    p.add_argument("--download", action="store_true", help="download full MNIST (needs internet)")


def data_source(args) -> str:
    """--data, else full MNIST when a root or a download is asked for, else the environment's default."""
    return args.data or (data.FULL if args.data_root or args.download else data.default_source())


def load_data(args) -> data.Digits:
    digits = data.load(data_source(args), root=args.data_root, download=args.download)
    print(f"data: {digits.description}", flush=True)
    return digits


def cmd_train(args) -> int:
    changes = {"digits": args.digits} if args.digits is not None else {}
    if args.config is not None:
        cfg = config_file(args.config).replace(**changes).with_settings(args.settings)
    else:
        cfg = presets.get(args.preset).config(**changes).with_settings(args.settings)
    digits = load_data(args)
    cfg = cfg.replace(data=digits.source)
    kind, amount = next((k, v) for k in ("steps", "epochs", "seconds") if (v := getattr(args, k)) is not None)
    budget = Budget(kind, amount)
    trainer = Trainer(cfg, digits)
    source = f"config {args.config.name}" if args.config is not None else f"preset {args.preset}"
    print(f"training {source} on digits {cfg.digits} for {amount} {kind} on {trainer.device}", flush=True)
    last = [0.0]

    def progress(m: dict) -> None:
        if time.perf_counter() - last[0] >= 1.0 or budget.done(trainer.state()):
            last[0] = time.perf_counter()
            print(progress_line(m), flush=True)

    status = trainer.run(budget, on_step=progress)
    path = checkpoints.save_trainer(trainer, args.out, sidecar=args.json, name=args.out.stem, preset=args.preset)
    print(f"{status}: {trainer.step_count} steps, {trainer.images_seen:,} images in {trainer.seconds:.1f}s; "
          f"wrote {path}", flush=True)
    if trainer.reason:
        print(trainer.reason, file=sys.stderr)
    return 0 if status == Status.FINISHED else 1


def config_file(path: Path) -> GANConfig:
    """A config from a Config download ({...settings...}) or a checkpoint's .json ({"config": {...}, "meta": ...})."""
    if not path.is_file():
        raise ConfigError("config", f"no config file at {path}")
    if path.stat().st_size > 1024 * 1024:
        raise ConfigError("config", f"{path.name} is larger than 1 MB: not a config file")
    raw = path.read_bytes()
    try:
        return GANConfig.from_json(raw)
    except ConfigError as e:
        from .untrusted_json import JSONProblem, parse_json
        try:  # a checkpoint's .json holds the config under "config"
            pair = parse_json(raw)
        except JSONProblem:
            raise e from None
        if isinstance(pair, dict) and isinstance(pair.get("config"), dict):
            return GANConfig.from_dict(pair["config"])
        raise


def progress_line(m: dict) -> str:
    rate = m["images"] / m["seconds"] if m["seconds"] else 0
    return (f"step {m['step']:>6}  epoch {m['epoch']:>4}  D {m['d_loss']:.3f}  G {m['g_loss']:.3f}  "
            f"D(x) {m['d_real']:.3f}  D(G(z)) {m['d_fake']:.3f}  {rate:,.0f} img/s")


def cmd_sample(args) -> int:
    ck = checkpoints.load(args.checkpoint)
    imgs = latent.sample(ck.G, ck.cfg, args.n, args.seed, args.digit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".npy":
        np.save(args.out, imgs.numpy())
    elif args.out.suffix == ".png":
        images.grid(imgs).save(args.out)
    else:
        raise ConfigError("out", f"{args.out.name}: the output must end in .npy or .png")
    print(f"wrote {args.n} samples to {args.out}")
    return 0


def cmd_evaluate(args) -> int:
    from . import metrics

    ck = checkpoints.load(args.checkpoint)
    imgs = latent.sample(ck.G, ck.cfg, args.n, args.seed)
    print(f"scoring {args.n} samples of {ck.title}", file=sys.stderr, flush=True)
    quality = metrics.score(imgs, ck.cfg.digits, n=min(args.n, 1000), source=args.data or ck.cfg.data)
    print(json.dumps({"checkpoint": str(args.checkpoint), "digits": ck.cfg.digits, "n": args.n,
                      **quality.to_dict()}, indent=2))
    return 0


def cmd_presets(args) -> int:
    width = max(map(len, presets.PRESETS))
    for p in presets.PRESETS.values():
        print(f"{p.name:<{width}}  {p.description}")
    return 0


def cmd_train_classifier(args) -> int:
    from . import classifier, reader

    kwargs = {k: v for k, v in (("epochs", args.epochs), ("out", args.out)) if v is not None}
    train = reader.train_reader if args.reader else classifier.train_classifier
    report = train(source=data_source(args), root=args.data_root, seed=args.seed, **kwargs)
    print(json.dumps(report, indent=2))
    return 0


def cmd_lessons(args) -> int:
    """Exit 1 when a lesson's failure (or its fix's health) does not show."""
    import dataclasses

    import torch

    from . import lessons

    torch.set_num_threads(args.threads)
    names = args.only or list(lessons.LESSONS)
    outcomes = []
    for name in names:
        lesson = lessons.get(name)
        for fixed in (False, True):
            if fixed and (args.no_fix or not lesson.fix):
                continue
            o = lessons.check(lesson, fixed)
            outcomes.append(o)
            when = f"at step {o.seen_at_step:,} ({o.seen_at_seconds:.0f} s)" if o.happened else "NOT SEEN"
            print(f"{name:12s} {'fix ' if fixed else 'lesson'} expect {o.expect:9s} {when:24s} "
                  f"end: {o.final} after {o.steps:,} steps, {o.seconds:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(o) for o in outcomes], indent=2) + "\n")
    return 0 if all(o.happened for o in outcomes) else 1


def cmd_build_demos(args) -> int:
    from . import demos

    names = None if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
    bad = next((n for n in names or [] if n not in demos.DEMOS), None)
    if bad or names == []:
        raise ConfigError("only", f"{bad or args.only!r} is not a demo name (known: {', '.join(demos.DEMOS)})")
    records = demos.build(names, progress=lambda line: print(line, flush=True))
    print("summary:")
    for r in records:
        print("  " + demos.summary(r))
    print(f"wrote {demos.MODELS / demos.RECORD}")
    return 0
