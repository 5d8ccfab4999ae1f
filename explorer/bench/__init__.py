"""Benchmarks: `python -m explorer bench <name>` measures one target on this machine; a bare `bench` runs them
all and gathers their JSON in bench.json. One module per benchmark; each has `add_parser(sub)` and `run(args)`.

They are a face of the app, like the CLI: they use the engine and the services, never the Streamlit views.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import board, classroom, latent, memory, overhead, quality, store, throughput

BENCHMARKS = {"quality": quality, "latent": latent, "throughput": throughput, "overhead": overhead,
              "memory": memory, "class": classroom, "store": store, "board": board}
# What a bare `bench` runs, in order, with the arguments each gets (the rest are its defaults).
ALL = (("throughput", []), ("quality", ["--presets", "all", "--digits", "3"]), ("overhead", []), ("latent", []),
       ("memory", []))


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="measure speed and quality targets on this machine (no subcommand: all of them)")
    bsub = b.add_subparsers(dest="bench")
    b.set_defaults(run=lambda args: run_all(bsub.choices))
    for module in BENCHMARKS.values():
        module.add_parser(bsub).set_defaults(run=module.run)


def run_all(parsers: dict, out: Path = Path("bench.json")) -> int:
    """Every benchmark in ALL, in one run on this machine; each prints its table, and all go into one JSON."""
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
