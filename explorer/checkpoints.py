"""Checkpoints: weights in safetensors, config and metadata as JSON in its header (or a .json beside it).

Loading never unpickles anything: the header is parsed as JSON, tensors are read by safetensors,
and every tensor name and shape is checked against networks built from the config.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .config import ConfigError, GANConfig
from .nets import Discriminator, Generator, build

FORMAT = "gan-explorer/1"
MAX_BYTES = 256 * 1024 * 1024  # the largest valid config is ~340 MB of G+D; uploads are capped lower
MAX_HEADER = 1024 * 1024


class CheckpointError(ValueError):
    """A file that is not a usable GAN Explorer checkpoint; the message says why."""


@dataclass
class Checkpoint:
    cfg: GANConfig
    G: Generator
    D: Discriminator | None
    meta: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        digits = ",".join(map(str, self.cfg.digits))
        return f"{self.meta.get('name', 'checkpoint')} (digits {digits}, {self.meta.get('steps', '?')} steps)"


def trainer_meta(trainer, **extra) -> dict:
    """The metadata kept with a trained model: digits, steps, wall time, final metrics."""
    return {"digits": trainer.cfg.digits, "steps": trainer.step_count, "epochs": trainer.epoch,
            "images_seen": trainer.images_seen, "seconds": round(trainer.seconds, 3),
            "status": str(trainer.status), "data": trainer.data_description,
            "final_metrics": trainer.final_metrics(), "saved": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}


def to_bytes(cfg: GANConfig, G: torch.nn.Module, D: torch.nn.Module | None = None, meta: dict | None = None) -> bytes:
    tensors = {f"G.{k}": v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    if D is not None:
        tensors.update({f"D.{k}": v.detach().cpu().contiguous() for k, v in D.state_dict().items()})
    header = {"format": FORMAT, "config": cfg.to_json(), "meta": json.dumps(meta or {})}
    return st_save(tensors, metadata=header)


def save(path, cfg: GANConfig, G, D=None, meta: dict | None = None, sidecar: bool = False) -> Path:
    """Write `path` (.safetensors); with `sidecar`, also a readable .json of config and metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_bytes(cfg, G, D, meta))
    if sidecar:
        path.with_suffix(".json").write_text(json.dumps({"config": cfg.to_dict(), "meta": meta or {}}, indent=2))
    return path


def save_trainer(trainer, path, sidecar: bool = False, **meta) -> Path:
    return save(path, trainer.cfg, trainer.generator, trainer.D, trainer_meta(trainer, **meta), sidecar)


def load(source, device: str | torch.device = "cpu") -> Checkpoint:
    """A checkpoint from a path or raw bytes (an upload). Raises CheckpointError for anything else."""
    sidecar = None
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"no checkpoint file at {path}")
        if path.stat().st_size > MAX_BYTES:
            raise CheckpointError(f"{path.name} is larger than the {MAX_BYTES // 2**20} MB limit")
        json_path = path.with_suffix(".json")
        sidecar = json_path.read_text() if json_path.is_file() else None
        source = path.read_bytes()
    if len(source) > MAX_BYTES:  # an upload past the server's cap (a path was checked above)
        raise CheckpointError(f"the file is larger than the {MAX_BYTES // 2**20} MB limit")
    data = bytes(source)
    header = read_header(data)
    cfg, meta = _config_and_meta(header.get("__metadata__") or {}, sidecar)
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors raises its own error types for bad offsets
        raise CheckpointError(f"the weights could not be read ({e})") from e
    G, D = build(cfg)
    _fill(G, "G", tensors)
    has_d = any(k.startswith("D.") for k in tensors)
    if has_d:
        _fill(D, "D", tensors)
    extra = sorted(k for k in tensors if not k.startswith(("G.", "D.")))
    if extra:
        raise CheckpointError(f"unexpected tensor {extra[0]!r}: not part of this generator or discriminator")
    G.to(device).eval()
    if has_d:
        D.to(device).eval()
    return Checkpoint(cfg, G, D if has_d else None, meta)


def read_header(data: bytes) -> dict:
    """The safetensors JSON header, checked before any tensor is read."""
    # A safetensors header is JSON starting at byte 8; pickles start with 0x80, torch.save zips with "PK".
    if data[8:9] != b"{" and (data[:1] == b"\x80" or data[:2] == b"PK"):
        raise CheckpointError("this is a pickle / torch.save file. GAN Explorer never unpickles files "
                              "(they can run code); please upload a .safetensors checkpoint")
    if len(data) < 10:
        raise CheckpointError("the file is too short to be a safetensors checkpoint")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise CheckpointError("not a safetensors checkpoint, or a truncated one (its header does not fit)")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError("not a safetensors checkpoint (its header is not JSON)") from e
    if not isinstance(header, dict):
        raise CheckpointError("not a safetensors checkpoint (its header is not a JSON object)")
    return header


def _config_and_meta(metadata: dict, sidecar: str | None) -> tuple[GANConfig, dict]:
    config_text, meta_text = metadata.get("config"), metadata.get("meta", "{}")
    if config_text is None and sidecar is not None:  # the pair form: config in the .json beside it
        try:
            pair = json.loads(sidecar)
            config_text, meta_text = json.dumps(pair["config"]), json.dumps(pair.get("meta", {}))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"the .json beside the checkpoint is not a GAN Explorer config ({e})") from e
    if config_text is None:
        raise CheckpointError("this safetensors file has no GAN Explorer config in its header")
    if metadata.get("format", FORMAT) != FORMAT:
        raise CheckpointError(f"unknown checkpoint format {metadata.get('format')!r} (expected {FORMAT})")
    try:
        cfg = GANConfig.from_json(config_text)
        meta = json.loads(meta_text)
    except ConfigError as e:
        raise CheckpointError(f"the checkpoint's config is invalid: {e}") from e
    except json.JSONDecodeError as e:
        raise CheckpointError(f"the checkpoint's metadata is not JSON ({e})") from e
    return cfg, meta if isinstance(meta, dict) else {}


def _fill(net: torch.nn.Module, prefix: str, tensors: dict) -> None:
    expected = net.state_dict()
    for name, ref in expected.items():
        key = f"{prefix}.{name}"
        if key not in tensors:
            raise CheckpointError(f"missing tensor {key!r} for this config")
        t = tensors[key]
        if tuple(t.shape) != tuple(ref.shape):
            raise CheckpointError(f"tensor {key!r} has shape {tuple(t.shape)}, but the config needs {tuple(ref.shape)}")
        if t.dtype != ref.dtype:
            raise CheckpointError(f"tensor {key!r} is {t.dtype}, expected {ref.dtype}")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"tensor {key!r} holds NaN or infinite values")
    unknown = sorted(k for k in tensors if k.startswith(prefix + ".") and k[len(prefix) + 1:] not in expected)
    if unknown:
        raise CheckpointError(f"unexpected tensor {unknown[0]!r}: the config has no such layer")
    net.load_state_dict({name: tensors[f"{prefix}.{name}"] for name in expected})
