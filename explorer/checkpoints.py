"""Checkpoints: weights in safetensors, config and metadata as JSON in its header (or a .json beside it).

Loading never unpickles anything, and checks before it allocates: the header is parsed as untrusted JSON
(its size, nesting depth, number lengths and types checked first), the tensors it declares are compared
with the names, shapes and dtypes the config needs (worked out without building the networks), and only
then are the weights read and G and D built. Every refusal is a CheckpointError saying why.
"""

from __future__ import annotations

import json
import math
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .config import MAX_CHECKPOINT_BYTES, MAX_CHECKPOINT_HEADER, ConfigError, GANConfig
from .nets import Discriminator, Generator, build, expected_tensors
from .untrusted_json import JSONProblem, kind, parse_json

FORMAT = "gan-explorer/1"
MAX_BYTES = MAX_CHECKPOINT_BYTES  # GANConfig.validate keeps every config the app trains under this
MAX_HEADER = MAX_CHECKPOINT_HEADER
DTYPE_NAMES = {torch.float32: "F32", torch.int64: "I64"}  # safetensors' names for the dtypes nets.py uses
NOT_OURS = "the file is not a GAN Explorer checkpoint"


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
    return save(path, trainer.recorded_config(), trainer.generator, trainer.D, trainer_meta(trainer, **meta),
                sidecar)


def load(source, device: str | torch.device = "cpu") -> Checkpoint:
    """A checkpoint from a path or raw bytes (an upload). Raises CheckpointError for anything else."""
    data, sidecar = _read_source(source)
    header = read_header(data)
    cfg, meta = _config_and_meta(header.get("__metadata__", {}), sidecar)
    has_d = _check_tensors(header, cfg)
    # Only now, with every name, shape and size known to fit the config, are weights read and networks built.
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors' own error types (overlapping or out-of-order data, ...)
        raise CheckpointError(f"the weights could not be read ({_cut(str(e), 200)})") from e
    G, D = build(cfg)
    _fill(G, "G", tensors)
    if has_d:
        _fill(D, "D", tensors)
    G.to(device).eval()
    if has_d:
        D.to(device).eval()
    return Checkpoint(cfg, G, D if has_d else None, meta)


def _read_source(source) -> tuple[bytes, bytes | None]:
    """The file's bytes and those of the .json beside it (paths only), sizes checked before reading."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            if not path.is_file():
                raise CheckpointError(f"no checkpoint file at {path}")
            if path.stat().st_size > MAX_BYTES:
                raise CheckpointError(f"{path.name} is larger than the {MAX_BYTES // 2**20} MB limit")
            json_path = path.with_suffix(".json")
            sidecar = None
            if json_path.is_file():
                if json_path.stat().st_size > MAX_HEADER:
                    raise CheckpointError(f"{json_path.name} is larger than {MAX_HEADER // 2**20} MB: "
                                          f"not the .json GAN Explorer writes beside a checkpoint")
                sidecar = json_path.read_bytes()
            return path.read_bytes(), sidecar
        except CheckpointError:
            raise
        except (OSError, ValueError) as e:  # ValueError: a NUL in the path
            raise CheckpointError(f"the checkpoint at {_cut(str(path), 200)} could not be read ({e})") from e
    if not isinstance(source, (bytes, bytearray, memoryview)):
        raise CheckpointError(f"expected a file path or the file's bytes, got {type(source).__name__}")
    if memoryview(source).nbytes > MAX_BYTES:  # an upload past the server's cap (a path was checked above)
        raise CheckpointError(f"the file is larger than the {MAX_BYTES // 2**20} MB limit")
    return bytes(source), None


# How pictures begin: a picture renamed to .safetensors is named as what it is, with where pictures go.
PICTURES = ((b"\x89PNG\r\n\x1a\n", "a PNG picture"), (b"\xff\xd8\xff", "a JPEG picture"), (b"GIF8", "a GIF picture"),
            (b"BM", "a BMP picture"))


def read_header(data: bytes) -> dict:
    """The safetensors JSON header, parsed as untrusted JSON and its structure checked, before any tensor is read."""
    # A safetensors header is JSON starting at byte 8; pickles start with 0x80, torch.save zips with "PK".
    if data[8:9] != b"{" and (data[:1] == b"\x80" or data[:2] == b"PK"):
        raise CheckpointError("this is a pickle / torch.save file. GAN Explorer never unpickles files "
                              "(they can run code); please upload a .safetensors checkpoint")
    picture = next((name for magic, name in PICTURES if data.startswith(magic)), None)
    if picture is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        picture = "a WebP picture"
    if picture and data[8:9] != b"{":
        raise CheckpointError(f"this file is {picture}, not a checkpoint. To find a digit picture in the latent "
                              f"space, upload it on the Interpolation page's Inversion tab")
    if len(data) < 10:
        raise CheckpointError("the file is too short to be a safetensors checkpoint")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise CheckpointError("this file is not a safetensors checkpoint (the .safetensors files GAN Explorer "
                              "downloads), or it was cut short")
    try:
        header = parse_json(data[8:8 + n])
    except JSONProblem as e:
        raise CheckpointError(f"not a safetensors checkpoint: its header {e}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"not a safetensors checkpoint: its header is {kind(header)}, not a JSON object")
    _check_structure(header, len(data) - 8 - n)
    return header


def _check_structure(header: dict, data_bytes: int) -> None:
    """What safetensors requires of a header: text metadata, and per tensor a dtype name, a shape of whole
    numbers and two ordered offsets inside the data that follows the header."""
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{NOT_OURS}: its header's __metadata__ is {kind(metadata)}, but must be an "
                              f"object of names and texts")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise CheckpointError(f"{NOT_OURS}: its header's __metadata__ entry {_short(key)} is {kind(value)}, "
                                  f"but safetensors metadata must be text (GAN Explorer keeps its config and metadata "
                                  f"there as JSON text)")
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        tensor = f"tensor {_short(name)}"
        if not isinstance(entry, dict):
            raise CheckpointError(f"{NOT_OURS}: its header's entry for {tensor} is {kind(entry)}, not an object "
                                  f"with dtype, shape and data_offsets")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str):
            raise CheckpointError(f"{NOT_OURS}: {tensor} has no dtype name (its dtype is {kind(dtype)})")
        if not _whole_numbers(shape):
            raise CheckpointError(f"{NOT_OURS}: the shape of {tensor} is not a list of whole numbers from 0")
        if not (_whole_numbers(offsets) and len(offsets) == 2 and offsets[0] <= offsets[1]):
            raise CheckpointError(f"{NOT_OURS}: the data_offsets of {tensor} are not two whole numbers, "
                                  f"start before end")
        if offsets[1] > data_bytes:
            raise CheckpointError(f"the weights could not be read: {tensor} lies past the end of the file "
                                  f"(a truncated file?)")


def _config_and_meta(metadata: dict, sidecar: bytes | None) -> tuple[GANConfig, dict]:
    config_text, meta_text = metadata.get("config"), metadata.get("meta", "{}")
    if config_text is None and sidecar is not None:  # the pair form: config in the .json beside it
        try:
            pair = parse_json(sidecar)
        except JSONProblem as e:
            raise CheckpointError(f"the .json beside the checkpoint {e}") from None
        if not isinstance(pair, dict) or "config" not in pair:
            raise CheckpointError('the .json beside the checkpoint is not a GAN Explorer config: it needs '
                                  'an object with a "config" entry')
        config, meta = pair["config"], pair.get("meta", {})
    elif config_text is None:
        raise CheckpointError("this safetensors file has no GAN Explorer config in its header")
    else:
        config, meta = _parse_text(config_text, "config"), _parse_text(meta_text, "metadata")
    if metadata.get("format", FORMAT) != FORMAT:
        raise CheckpointError(f"unknown checkpoint format {_short(metadata.get('format'))} (expected {FORMAT})")
    if not isinstance(config, dict):
        raise CheckpointError(f"the checkpoint's config is {kind(config)}, not a JSON object of settings")
    if not isinstance(meta, dict):
        raise CheckpointError(f"the checkpoint's metadata is {kind(meta)}, not a JSON object")
    try:
        json.dumps(meta, ensure_ascii=False).encode()  # the pages show it: it must be plain Unicode text
        cfg = GANConfig.from_dict(config)
    except UnicodeEncodeError:
        raise CheckpointError("the checkpoint's metadata holds text that is not valid Unicode") from None
    except ConfigError as e:
        raise CheckpointError(f"the checkpoint's config is invalid: {_cut(str(e), 400)}") from None
    return cfg, meta


def _parse_text(text: str, what: str):
    try:
        return parse_json(text)
    except JSONProblem as e:
        raise CheckpointError(f"the checkpoint's {what} {e}") from None


def _check_tensors(header: dict, cfg: GANConfig) -> bool:
    """Compare the header's tensors with those `cfg` needs, before reading or building anything.
    Returns whether the file holds D (a generator-only checkpoint is fine)."""
    expected = expected_tensors(cfg)
    declared = {k: v for k, v in header.items() if k != "__metadata__"}
    extra = sorted(k for k in declared if not k.startswith(("G.", "D.")))
    if extra:
        raise CheckpointError(f"unexpected tensor {_short(extra[0])}: not part of this generator or discriminator")
    has_d = any(k.startswith("D.") for k in declared)
    for key, (shape, dtype) in expected.items():
        if key.startswith("D.") and not has_d:
            continue
        if key not in declared:
            raise CheckpointError(f"missing tensor {key!r} for this config")
        entry = declared[key]
        if tuple(entry["shape"]) != shape:
            raise CheckpointError(f"tensor {key!r} has shape {_short(tuple(entry['shape']))}, but the config needs "
                                  f"{shape}")
        if entry["dtype"] != DTYPE_NAMES[dtype]:
            raise CheckpointError(f"tensor {key!r} is {_short(entry['dtype'])}, expected {DTYPE_NAMES[dtype]} "
                                  f"({str(dtype).removeprefix('torch.')})")
        begin, end = entry["data_offsets"]
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise CheckpointError(f"the weights could not be read: tensor {key!r} has {end - begin:,} bytes "
                                  f"of data, but its shape needs {math.prod(shape) * dtype.itemsize:,}")
    unknown = sorted(k for k in declared if k not in expected)
    if unknown:
        raise CheckpointError(f"unexpected tensor {_short(unknown[0])}: the config has no such layer")
    return has_d


def _fill(net: torch.nn.Module, prefix: str, tensors: dict) -> None:
    """Copy the tensors into `net`, refusing NaN or infinite weights. The header was checked already; the
    shapes are checked again on what safetensors read, so no other reading of the header can slip through."""
    expected = net.state_dict()
    for name, ref in expected.items():
        key = f"{prefix}.{name}"
        t = tensors.get(key)
        if t is None or t.shape != ref.shape or t.dtype != ref.dtype:
            raise CheckpointError(f"the weights could not be read: tensor {key!r} is not what its header says")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"tensor {key!r} holds NaN or infinite values")
    net.load_state_dict({name: tensors[f"{prefix}.{name}"] for name in expected})


def _whole_numbers(value) -> bool:
    return isinstance(value, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)


def _short(value) -> str:
    """A value for a message, as Python writes it, cut short: a hostile file may hold megabytes where a name
    belongs."""
    return _cut(repr(value), 60)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
