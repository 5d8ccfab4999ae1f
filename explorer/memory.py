"""How much memory a training run will take at its peak, worked out from its config before anything is built.

A server admits a job only while its estimate fits the memory budget (explorer.app.jobs), and a Ray actor asks
for it as its `memory` resource. The estimate adds up what a `Trainer` holds (explorer.trainer):

- the weights of G and D, their gradients and the optimizers' state (Adam: two numbers per weight);
- the moving average of G's weights (`g_ema`) and the guards' rollback copies (explorer.guards: every network's
  weights, kept twice, with a third copy while a new one replaces an old one);
- the activations one step keeps for its backward passes at the config's batch size: G's forward pass, D's
  pass over real and fake together, and the gradient penalties' second pass through D;
- the chosen digits on the device, the snapshots, and the live quality meter.

`python -m explorer bench memory` checks it against the peak resident memory of real runs, each in a fresh
process; the README has the table. The activation and allocator factors below come from those measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import IMAGE_PIXELS, GANConfig, parameter_count

FLOAT = 4  # bytes of a float32
IMAGES_PER_DIGIT = {"embedded": 500, "full": 6_000}  # about; full MNIST has 5,421 to 6,742 per digit
SNAPSHOTS = 101  # explorer.trainer keeps at most 100 snapshots, and one more before it thins them
SNAPSHOT_SAMPLES = 64
GUARD_COPIES = 3  # explorer.guards: the last good and the last varied weights, and a new copy replacing one
# Per hidden unit and sample, the float tensors a layer keeps for backward: the linear output and the activation's;
# dropout adds its mask and its output, batch norm its output. Measured (bench memory), not derived: autograd
# and the allocator keep a little more than the saved tensors alone.
PER_UNIT = 2.6
PER_UNIT_DROPOUT = 2.0
PER_UNIT_BATCHNORM = 1.2
PENALTY_PASSES = 2.0  # WGAN-GP and R1: D again with a graph of its own gradient (double backward)
FIXED_BYTES = 40 * 2**20  # per job: history tables, the step's small tensors, the fixed batch, allocator slack
METER_BYTES = 30 * 2**20  # the quality meter's real batch, noise and one classifier pass over 256 samples
HISTORY_BYTES = 4 * 2**20  # a finished run's metrics table: at most 2,000 rows of a few dozen Python floats


@dataclass(frozen=True)
class MemoryEstimate:
    """A run's peak bytes, part by part (all in bytes)."""
    weights: int  # G and D
    gradients: int
    optimizer: int
    copies: int  # the averaged G and the guards' rollback copies
    activations: int
    data: int  # the chosen digits on the device, the snapshots, the meter, fixed costs

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.copies + self.activations + self.data

    def parts(self) -> dict[str, int]:
        return {"weights": self.weights, "gradients": self.gradients, "optimizer": self.optimizer,
                "copies": self.copies, "activations": self.activations, "data": self.data}

    def biggest(self) -> str:
        """The part that weighs most: what a message should name first."""
        parts = self.parts()
        return max(parts, key=parts.get)


def estimate(cfg: GANConfig, measure: bool = True) -> MemoryEstimate:
    """The peak bytes a run of `cfg` takes (with the live quality meter when `measure`), from its sizes alone."""
    g, d = parameter_count(cfg, "g"), parameter_count(cfg, "d")
    state = {"adam": 2, "rmsprop": 1, "sgd": 0}
    momentum = 1 if cfg.momentum > 0 else 0
    slots = {net: state[opt] + (momentum if opt != "adam" else 0)
             for net, opt in (("g", cfg.g_optimizer), ("d", cfg.d_optimizer))}
    averaged = g if cfg.g_ema > 0 else 0
    rollback = GUARD_COPIES * (2 * g + d)  # G, D and the "averaged" G (G itself without g_ema) each copied
    images = IMAGES_PER_DIGIT.get(cfg.data, 6_000) * len(cfg.digits)
    data = (images * IMAGE_PIXELS * FLOAT + _snapshot_bytes(cfg) + FIXED_BYTES
            + (METER_BYTES if measure else 0))
    return MemoryEstimate(weights=FLOAT * (g + d), gradients=FLOAT * (g + d),
                          optimizer=FLOAT * (slots["g"] * g + slots["d"] * d),
                          copies=FLOAT * (averaged + rollback), activations=activation_bytes(cfg), data=data)


def kept_bytes(cfg: GANConfig) -> int:
    """What a finished run keeps in its session (explorer.trainer.TrainedModel, explorer.app.runs.Run): the
    generator people see and D, its snapshots and its metrics table. A session keeps several, so a server counts
    them beside its running jobs."""
    weights = FLOAT * (parameter_count(cfg, "g") + parameter_count(cfg, "d"))
    return weights + _snapshot_bytes(cfg) + HISTORY_BYTES


def _snapshot_bytes(cfg: GANConfig) -> int:
    samples = 8 * len(cfg.digits) if cfg.conditional else SNAPSHOT_SAMPLES  # explorer.trainer's fixed batch
    return SNAPSHOTS * samples * IMAGE_PIXELS


def activation_bytes(cfg: GANConfig) -> int:
    """What one step keeps for backward at once: G's pass over a batch (its fake batch keeps its graph while D
    updates), D's pass over real and fake together, with a gradient penalty D's second-order pass, and with digit
    coverage D's digit-head pass over the real batch."""
    n = cfg.batch_size
    g_units = _units(cfg.g_layers, cfg.g_dropout, cfg.g_batchnorm) + 2 * IMAGE_PIXELS  # head and tanh outputs
    d_units = _units(cfg.d_layers, cfg.d_dropout, cfg.d_batchnorm) + 2 * (IMAGE_PIXELS + cfg.n_classes)
    penalty = PENALTY_PASSES if cfg.loss == "wgan-gp" or cfg.r1_weight > 0 else 0.0
    digits = 1.0 if cfg.coverage > 0 else 0.0  # digit coverage: D's body once more over the real batch
    return int(FLOAT * n * (g_units + (2 + penalty + digits) * d_units))


def _units(layers: list[int], dropout: float, batchnorm: bool) -> float:
    per = PER_UNIT + (PER_UNIT_DROPOUT if dropout > 0 else 0) + (PER_UNIT_BATCHNORM if batchnorm else 0)
    return per * sum(layers)


def shrink_hint(cfg: GANConfig, est: MemoryEstimate) -> tuple[str, str]:
    """(the setting to shrink first, a sentence naming what to shrink) for a run that does not fit."""
    if est.activations >= est.total / 2:
        return "batch_size", ("use a smaller batch size (it sets the activations' size), or fewer or smaller "
                              "layers (Generator and Discriminator layers)")
    net = "g_layers" if parameter_count(cfg, "g") >= parameter_count(cfg, "d") else "d_layers"
    return net, "use fewer or smaller layers (Generator and Discriminator layers), or a smaller batch size"


def parse_bytes(text: str) -> int:
    """'8G', '512M', '1.5GiB', '1000000' (bytes) -> bytes; ValueError otherwise. K, M, G, T are powers of 1024."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    s = text.strip().upper().removesuffix("IB").removesuffix("B")
    number, unit = (s[:-1], s[-1]) if s and s[-1] in units else (s, "")
    value = float(number) * units[unit]
    if not value >= 1:  # NaN too
        raise ValueError(f"{text!r} is not a size in bytes (e.g. 8G, 512M)")
    return int(value)


def size_text(n: float) -> str:
    """1.2 GB, 350 MB: a size in words for a message."""
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:,.0f} MB"
