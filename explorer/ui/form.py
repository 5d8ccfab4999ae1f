"""The Train page's setup: preset picker, share-link restore, and the form (Streamlit widgets).

Every widget is keyed `setup_<name>` and persists for the whole session, so the setup survives a
visit to another page. Values go through `explorer.ui.setup` to become a config and a budget.
"""

from __future__ import annotations

import streamlit as st

from .. import config as C
from .. import live_settings, presets
from ..app import form_values, share
from ..config import Budget, ConfigError, GANConfig
from ..losses import LOSSES
from .widgets import KEEP

P = "setup_"
LENGTH_BOUNDS = (1, max(C.BUDGET_LIMITS.values()))  # the kind may change in the same submit: read_budget checks it
UNITS_CHARS = 60  # "4096, 4096, 4096, 4096, 4096, 4096" is 34


def k(name: str) -> str:
    return P + name


def fill(cfg: GANConfig, budget: Budget | None = None, preset: str | None = None) -> None:
    """Put `cfg` (and a budget and preset name) into the form's widgets."""
    default = form_values.DEFAULT_BUDGET
    budget = budget or form_values.read_budget(st.session_state.get(k("length_kind"), default.kind),
                                               st.session_state.get(k("length_amount"), default.amount))
    st.session_state.update({k(name): value for name, value in form_values.form_values(cfg, budget).items()})
    st.session_state.form_base = cfg.to_dict()  # fields the form does not show keep these values
    if preset is not None:
        st.session_state[k("preset")] = preset


def init() -> None:
    """First visit: the default preset."""
    if k("digits") not in st.session_state:
        fill(presets.get(share.DEFAULT_PRESET).config(), form_values.DEFAULT_BUDGET, share.DEFAULT_PRESET)


def apply_link() -> list[str]:
    """Fill the form from the URL's query parameters, once per distinct link. Returns warnings."""
    params = {k: v for k, v in st.query_params.to_dict().items() if k not in share.IGNORED}
    signature = sorted(params.items())
    if params and st.session_state.get("applied_link") != signature:
        st.session_state.applied_link = signature
        decoded = share.decode(params)
        fill(decoded.cfg, decoded.budget, decoded.preset)
        st.session_state.lesson_pick = decoded.lesson
        st.session_state.link_warnings = decoded.warnings
    return st.session_state.get("link_warnings", [])


def set_link(cfg: GANConfig, budget: Budget, lesson: str = "") -> dict[str, str]:
    """Put the setup in the address bar, so the page's URL is its share link (a lesson's names the lesson)."""
    params = share.encode(st.session_state.get(k("preset"), share.DEFAULT_PRESET), cfg, budget, lesson)
    kept = {key: value for key, value in st.query_params.to_dict().items() if key in share.IGNORED}
    st.query_params.from_dict({**params, **kept})  # the session token and presenter mode stay
    st.session_state.applied_link = sorted(params.items())
    st.session_state.link_warnings = []
    return params


def _on_preset() -> None:
    preset = presets.get(st.session_state[k("preset")])
    digits = form_values.read_digits(st.session_state.get(k("digits"))) or [3]
    fill(preset.config(**({} if "digits" in preset.settings else {"digits": digits})))


def preset_picker() -> None:
    name = st.selectbox("Preset", list(presets.PRESETS), key=k("preset"), on_change=_on_preset, **KEEP,
                        help="A preset fills in every field below; you can still change any of them.")
    st.caption(presets.get(name).description)


def planned_changes() -> None:
    """The live changes this setup replays (from a link or a run's config), and a way to drop them."""
    changes = (st.session_state.get("form_base") or {}).get("live_changes") or []
    if not changes:
        return
    said = "; ".join(f"after step {c['step']:,}: " + ", ".join(live_settings.describe(key, value)
                                                             for key, value in c.items() if key != "step")
                     for c in changes)
    st.caption(f"This setup replays {len(changes)} live change{'s' if len(changes) > 1 else ''}, as the run it "
               f"comes from made them: {said}.")
    st.button("Drop the replayed changes", key="drop_changes", on_click=_drop_changes)


def _drop_changes() -> None:
    st.session_state.form_base = {**st.session_state.form_base, "live_changes": []}


def values() -> dict:
    return {key[len(P):]: value for key, value in st.session_state.items() if key.startswith(P)}


def read() -> tuple[GANConfig, Budget]:
    """The submitted setup; raises ConfigError naming the field."""
    return form_values.read_form(values(), st.session_state.get("form_base"))


def show_error(e: ConfigError) -> None:
    message = str(e).removeprefix(f"{e.field}: ")
    st.error(f"**{form_values.label(e.field)}**: {message}. Nothing was started; fix this and press Start training.",
             icon=":material/error:")


def render(active: bool, locked: tuple[str, ...] = (), locked_why: str = "") -> str | None:
    """The setup form. Returns "start", "share" or None. The `locked` fields (a class's challenge) are shown
    disabled, marked with `locked_why`."""
    ss = st.session_state

    def lock(name: str, help_text: str | None = None) -> dict:
        return dict(disabled=True, help=locked_why) if name in locked else dict(help=help_text)

    with st.form("setup", enter_to_submit=False):  # Enter in a number field must not start a run
        if locked:
            st.caption(f":material/groups: {locked_why}")
        st.pills("Digits", form_values.DIGIT_OPTIONS, selection_mode="multi", key=k("digits"), **KEEP,
                 **lock("digits", "The digits G learns to draw. **All** picks all ten."))
        left, mid, right = st.columns(3)
        left.segmented_control("Train for", form_values.LENGTH_KINDS, key=k("length_kind"), required=True, **KEEP,
                               **lock("length_kind"))
        _number(left, "How many (steps, epochs or seconds)", "length_amount", step=1, bounds=LENGTH_BOUNDS, **KEEP,
                **lock("length_amount"))
        mid.selectbox("Loss", list(LOSSES), format_func=lambda n: LOSSES[n].title, key=k("loss"), **KEEP,
                      help="How D is scored, and what G tries to do. See the Loss tab.")
        _number(mid, "D steps per G step (k)", "d_steps", step=1, **KEEP)
        _number(right, "Batch size", "batch_size", step=16, **KEEP)
        right.checkbox("Conditional (digit on request)", key=k("conditional"), **KEEP,
                       help="One model for all the chosen digits: G and D are also told the digit, so you can ask "
                            "G for any of them.")
        gen, disc, loss, opt, more = st.tabs(["Generator", "Discriminator", "Loss", "Optimizers", "More"])
        with gen:
            c1, c2, c3 = st.columns(3)
            _number(c1, "Latent size (z)", "latent_dim", step=1, **KEEP)
            c1.selectbox("Prior of z", C.PRIORS, key=k("prior"), **KEEP)
            _layers("g", c2)
            c3.selectbox("Activation", C.ACTIVATIONS, key=k("g_activation"), **KEEP)
            c3.selectbox("Output", C.OUTPUTS, key=k("output"), **KEEP, help="tanh: pixels in [-1, 1]; sigmoid: [0, 1]")
            c3.checkbox("Batch norm", key=k("g_batchnorm"), **KEEP)
            _number(c3, "Dropout", "g_dropout", step=0.1, format="%.2f", **KEEP)
        with disc:
            c1, c2, c3 = st.columns(3)
            _layers("d", c1)
            c2.selectbox("Activation", C.ACTIVATIONS, key=k("d_activation"), **KEEP)
            c2.checkbox("Batch norm", key=k("d_batchnorm"), **KEEP)
            _number(c3, "Dropout", "d_dropout", step=0.1, format="%.2f", **KEEP)
        with loss:
            c1, c2 = st.columns(2)
            _number(c1, "Label smoothing: target for real images (BCE losses)", "label_smoothing", step=0.05,
                    format="%.2f", **KEEP)
            _number(c1, "Weight clip (WGAN)", "clip", step=0.005, format="%.3f", **KEEP)
            _number(c2, "Gradient penalty λ (WGAN-GP)", "gp_weight", step=1.0, **KEEP)
            _number(c2, "R1 penalty on real images (any loss, 0 = off)", "r1_weight", step=1.0, **KEEP)
            _number(c1, "Digit coverage (several digits, 0 = off)", "coverage", step=0.5,
                    help="D also learns which digit a real image is, and G is pushed to spread its samples evenly "
                         "over the chosen digits as D reads them: against a GAN dropping a digit. Try 1.", **KEEP)
            st.markdown("\n".join(f"- **{v.title}**: {v.description} *Usually: {v.usual}.*" for v in LOSSES.values()))
        with opt:
            c1, c2, c3 = st.columns(3)
            for col, net, name in ((c1, "g", "Generator"), (c2, "d", "Discriminator")):
                col.selectbox(f"{name} optimizer", C.OPTIMIZERS, key=k(f"{net}_optimizer"), **KEEP)
                col.select_slider(f"{name} learning rate", form_values.lr_options(ss[k(f"{net}_lr")]),
                                  key=k(f"{net}_lr"), format_func=form_values.format_lr, **KEEP, help="On a log scale.")
                col.text_input(f"{name} milestones (epochs, for 'step')", key=k(f"{net}_milestones"),
                               max_chars=C.MAX_LIST_TEXT, **KEEP)
                _number(col, f"{name} gamma (for 'step')", f"{net}_gamma", step=0.1, **KEEP)
            _number(c3, "Adam beta1", "beta1", step=0.1, format="%.3f", **KEEP)
            _number(c3, "Adam beta2", "beta2", step=0.001, format="%.4f", **KEEP)
            _number(c3, "SGD momentum", "momentum", step=0.1, **KEEP)
            c3.selectbox("Learning-rate schedule", C.SCHEDULES, key=k("schedule"), **KEEP)
            _number(c3, "Decay rate (for 'decay')", "lr_decay", step=1e-4, format="%.5f", **KEEP)
        with more:
            c1, c2, c3 = st.columns(3)
            _number(c1, "Seed", "seed", step=1, **KEEP, help="Same seed, same run.")
            c1.selectbox("Weight init", C.INITS, key=k("init"), **KEEP)
            _number(c2, "Leaky ReLU slope", "leaky_slope", step=0.05, format="%.3f", **KEEP)
            _number(c2, "Batch norm momentum", "bn_momentum", step=0.05, **KEEP)
            _number(c3, "Snapshot every (steps)", "snapshot_every", step=10, **KEEP)
            _number(c3, "Generator weight averaging (EMA decay, 0 = off)", "g_ema", step=0.001,
                            format="%.4f", **KEEP, help="Samples come from a moving average of G's weights: "
                            "smoother digits. 0.999 averages over about the last thousand steps.")
            c3.selectbox("Dataset", ("embedded", "full"), key=k("data"), **KEEP,
                         help="embedded: 5,000 MNIST images that ship with the app; full: 60,000 (needs a data folder)")
        b1, b2, _ = st.columns([1, 1, 3])
        start = b1.form_submit_button("Start training", type="primary", disabled=active, width="stretch")
        link = b2.form_submit_button("Make a share link", width="stretch")
    return "start" if start else "share" if link else None


def _layers(net: str, col) -> None:
    _number(col, "Hidden layers", f"{net}_n_layers", step=1, bounds=(0, C.MAX_LAYERS), **KEEP,
            help=f"From 0 to {C.MAX_LAYERS}.")
    col.text_input("Units per layer", key=k(f"{net}_units"), max_chars=UNITS_CHARS, **KEEP,
                   help=f"One size per layer, e.g. 256, 512, or one size for all of them (1 to {C.MAX_UNITS}).")


def _number(col, label: str, name: str, step, bounds: tuple | None = None, **kwargs) -> None:
    """A number box for form field `name`, bounded by the engine's range for it (config.RANGES). Streamlit
    wants the value, the bounds and the step of one type: a whole-number field stays whole."""
    lo, hi = bounds or C.RANGES[name]
    whole = isinstance(st.session_state.get(k(name)), int)
    kind = int if whole else float
    col.number_input(label, min_value=kind(lo), max_value=kind(hi), step=kind(step) if whole else float(step),
                     key=k(name), **kwargs)
