"""What every benchmark writes beside its figures: the machine, and the JSON file."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch


def machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "when": time.strftime("%Y-%m-%d")}


def write(path: Path, report: dict) -> None:
    path.write_text(json.dumps(report, indent=2))
    print(f"wrote {path}")


def digits_label(digits: list[int]) -> str:
    return "all" if sorted(digits) == list(range(10)) else ",".join(map(str, digits))
