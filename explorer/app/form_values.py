"""The Train page's setup form as plain values, and back: form values <-> config and budget.

`form_values(cfg, budget)` gives the value of every form widget (by key) for a config, and
`read_form(values)` turns the submitted values back into a validated config and budget, raising
the engine's `ConfigError` for the first bad field. Layers are asked for as a number of hidden
layers and the units per layer ("256, 512", or one size for all of them).
"""

from __future__ import annotations

from ..config import BUDGET_KINDS, MAX_LAYERS, Budget, ConfigError, GANConfig, parse_int_list

ALL = "All"
DIGIT_OPTIONS = [ALL, *(str(d) for d in range(10))]
LENGTH_KINDS = BUDGET_KINDS
DEFAULT_BUDGET = Budget("steps", 3000)
# learning rates on a log scale: 1, 2 and 5 per decade
LEARNING_RATES = sorted({round(m * 10.0**e, 12) for e in range(-6, 0) for m in (1, 2, 5)} | {1.0})

# every form field and the config field it edits (layers and length are handled apart)
PLAIN_FIELDS = (
    "data", "conditional", "latent_dim", "prior", "g_activation", "d_activation", "leaky_slope",
    "g_batchnorm", "d_batchnorm", "bn_momentum", "g_dropout", "d_dropout", "init", "output", "loss",
    "label_smoothing", "clip", "gp_weight", "r1_weight", "coverage", "g_optimizer", "d_optimizer", "g_lr", "d_lr",
    "beta1", "beta2", "momentum", "schedule", "lr_decay", "g_gamma", "d_gamma", "d_steps", "batch_size",
    "seed", "snapshot_every", "g_ema",
)
LIST_FIELDS = ("g_milestones", "d_milestones")

# friendly names for the engine's field names, for error messages next to the form
LABELS = {
    "server": "This server",  # a job the server refuses (explorer.app.jobs.Refused): its queue is full
    "digits": "Digits", "data": "Dataset", "conditional": "Conditional", "latent_dim": "Latent size",
    "prior": "Prior", "g_layers": "Generator layers", "d_layers": "Discriminator layers",
    "g_activation": "Generator activation", "d_activation": "Discriminator activation",
    "leaky_slope": "Leaky ReLU slope", "g_batchnorm": "Generator batch norm",
    "d_batchnorm": "Discriminator batch norm", "bn_momentum": "Batch norm momentum",
    "g_dropout": "Generator dropout", "d_dropout": "Discriminator dropout", "init": "Weight init",
    "output": "Output", "loss": "Loss", "label_smoothing": "Label smoothing", "clip": "Weight clip",
    "gp_weight": "Gradient penalty weight", "r1_weight": "R1 penalty weight",
    "coverage": "Digit coverage",
    "g_optimizer": "Generator optimizer", "d_optimizer": "Discriminator optimizer",
    "g_lr": "Generator learning rate", "d_lr": "Discriminator learning rate", "beta1": "Adam beta1",
    "beta2": "Adam beta2", "momentum": "SGD momentum", "schedule": "Schedule", "lr_decay": "Decay rate",
    "g_milestones": "Generator milestones", "d_milestones": "Discriminator milestones",
    "g_gamma": "Generator gamma", "d_gamma": "Discriminator gamma", "d_steps": "D steps per G step",
    "batch_size": "Batch size", "seed": "Seed", "snapshot_every": "Snapshot every",
    "g_ema": "Generator weight averaging",
    "steps": "Training length", "epochs": "Training length", "seconds": "Training length",
    "budget": "Training length", "preset": "Preset",
}


def label(field: str) -> str:
    return LABELS.get(field, field)


def lr_options(*extra: float) -> list[float]:
    """The log-scale choices, plus any other rate in use (from a preset or a link)."""
    return sorted(set(LEARNING_RATES) | {float(x) for x in extra if 0 < x <= 1})


def format_lr(lr: float) -> str:
    return f"{lr:.0e}".replace("e-0", "e-") if lr < 0.01 else f"{lr:g}"


def digits_value(digits: list[int]) -> list[str]:
    return [ALL] if sorted(digits) == list(range(10)) else [str(d) for d in sorted(digits)]


def read_digits(picked) -> list[int]:
    picked = list(picked or [])
    if ALL in picked:
        return list(range(10))
    try:
        return sorted(int(d) for d in picked)
    except (TypeError, ValueError):
        raise ConfigError("digits", f"{picked!r} are not digits from 0 to 9") from None


def form_values(cfg: GANConfig, budget: Budget = DEFAULT_BUDGET) -> dict:
    """Widget key -> value for `cfg` and `budget`."""
    values = {name: getattr(cfg, name) for name in PLAIN_FIELDS}
    values.update({name: ", ".join(map(str, getattr(cfg, name))) for name in LIST_FIELDS})
    for net in ("g", "d"):
        layers = getattr(cfg, f"{net}_layers")
        values[f"{net}_n_layers"] = len(layers)
        values[f"{net}_units"] = ", ".join(map(str, layers))
    values["digits"] = digits_value(cfg.digits)
    values["length_kind"] = budget.kind
    values["length_amount"] = int(budget.amount) if float(budget.amount).is_integer() else budget.amount
    return values


def read_layers(name: str, count, units) -> list[int]:
    """`count` hidden layers from `units`: one size per layer, or one size for all of them."""
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_LAYERS:
        # checked before anything is built from it: a count of a billion must not become a billion-item list
        raise ConfigError(name, f"the number of hidden layers must be a whole number from 0 to {MAX_LAYERS}, "
                                f"got {count!r}")
    sizes = parse_int_list(name, units if units is not None else "")
    if count == 0:
        return []
    if len(sizes) == 1:
        return sizes * count
    if len(sizes) != count:
        raise ConfigError(name, f"{count} hidden layers need {count} sizes (or one size for all of them), "
                                f"but {len(sizes)} were given: {units!r}")
    return sizes


def read_form(values: dict, base: dict | None = None) -> tuple[GANConfig, Budget]:
    """The config and budget from submitted form values, over `base` (the config that filled the form,
    so fields the form does not show keep their value). Raises ConfigError naming the bad field."""
    known = {f for f in GANConfig.__dataclass_fields__}
    d = {k: v for k, v in (base or {}).items() if k in known}
    d.update({name: values[name] for name in PLAIN_FIELDS if name in values})
    d.update({name: values.get(name) or "" for name in LIST_FIELDS})
    d["digits"] = read_digits(values.get("digits"))
    for net in ("g", "d"):
        d[f"{net}_layers"] = read_layers(f"{net}_layers", values.get(f"{net}_n_layers"), values.get(f"{net}_units"))
    cfg = GANConfig.from_dict(d)
    return cfg, read_budget(values.get("length_kind"), values.get("length_amount"))


def read_budget(kind, amount) -> Budget:
    if kind not in LENGTH_KINDS:
        raise ConfigError("budget", f"{kind!r} is not one of {', '.join(LENGTH_KINDS)}")
    try:
        amount = float(amount)
    except (TypeError, ValueError):
        raise ConfigError(kind, f"{amount!r} is not a number") from None
    if kind != "seconds" and not amount.is_integer():
        raise ConfigError(kind, f"{amount:g} is not a whole number of {kind}")
    return Budget(kind, int(amount) if kind != "seconds" else amount)
