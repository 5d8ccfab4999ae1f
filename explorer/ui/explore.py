"""What the two latent pages share: the generator they explore, what is derived from it once, the latent
point behind the sliders, and the gallery of saved points (all in Streamlit session state).

The point is kept as slider values (`lat_z_<i>`) plus offsets along principal (`lat_pc_<i>`) and
attribute (`lat_attr_<key>`) directions; `edited_z` adds them up. Buttons change the point through
`on_click` callbacks, which run before the sliders are drawn, as Streamlit requires.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from urllib.parse import urlencode

import streamlit as st
import torch

from .. import data, demos, images, inversion, latent
from ..app import points
from ..app.runs import Run
from ..checkpoints import CheckpointError
from ..config import MAX_SEED
from ..directions import Attribute, Directions, attribute_directions, principal_directions
from ..reader import load_reader
from . import state
from .widgets import KEEP

log = logging.getLogger(__name__)
GALLERY_SIZE = 12  # saved points per model
FIRST_SLIDERS = 16  # latent dimensions shown before the "more" expander
MAX_REACH = 8.0  # the sliders widen to hold an opened point, up to this far (8 σ of a normal prior: none is farther)
ss = st.session_state


# ---- which generator ---------------------------------------------------------------------------
@st.cache_resource(show_spinner="Loading the demo models...")
def demo_runs() -> dict[str, Run]:
    """The shipped demo generators, loaded once per server and shared read-only by every session."""
    out = {}
    for demo in demos.available():
        try:
            out[demo.name] = Run.from_demo(demo.name)
        except CheckpointError:  # a damaged file must not take the pages down; the others still load
            log.exception("demo model %s could not be loaded", demo.name)
    return out


def pick_model() -> Run | None:
    """A picker over this session's runs and the demo models; the pick becomes the current generator."""
    current = state.current_run()
    options = [*reversed(state.runs()), *demo_runs().values()]
    if current is not None and not any(r is current for r in options):
        options.insert(0, current)
    if not options:
        st.info("No generator yet, and no demo model is installed: train one on the Train page.",
                icon=":material/info:")
        st.page_link("pages/train.py", label="Go to the Train page", icon=":material/model_training:")
        return None
    if current is None:  # first visit: start on a demo, so there is something to explore at once
        state.set_current(options[0])
        state.rerun_keeping_notes()  # the sidebar, drawn before the page, should name it too
    offer = state.offered()
    if offer is not None:  # never switched under the student: offered
        row = st.container(horizontal=True, vertical_alignment="center")
        row.info(f"**{offer.name}** finished training ({offer.summary}). You are exploring {current.name}.",
                 icon=":material/new_releases:")
        row.button(f"Explore {offer.name}", key="take_offer", type="primary", on_click=state.set_current,
                   args=(offer,))
    ss["model_pick"] = next(i for i, r in enumerate(options) if r is current)
    st.selectbox("Generator to explore", range(len(options)), key="model_pick", on_change=_picked, args=(options,),
                 format_func=lambda i: f"{options[i].name} · {options[i].summary}",
                 help="This session's runs and the demo models that ship with the app.")
    if current.source == "demo":
        st.caption(f"{demos.DEMOS[current.meta['demo']].description} Train your own on the Train page.")
    return current


def _picked(options: list[Run]) -> None:
    state.set_current(options[ss["model_pick"]])


# ---- derived once per generator --------------------------------------------------------------------
def directions(run: Run) -> Directions:
    if "directions" not in run.cache:
        with st.spinner("Finding the principal directions (once per model)..."):
            run.cache["directions"] = principal_directions(run.G, run.cfg)
    return run.cache["directions"]


def attributes(run: Run) -> list[Attribute]:
    if "attributes" not in run.cache:
        with st.spinner("Labelling 3,000 samples for the attribute directions (once per model)..."):
            run.cache["attributes"] = attribute_directions(run.G, run.cfg, load_reader())
    return run.cache["attributes"]


@st.cache_resource(show_spinner=False, max_entries=16)
def _pool(source: str, digits: tuple[int, ...]) -> tuple[torch.Tensor, float, str]:
    try:
        real = data.load(source)
    except data.DataError:  # a checkpoint trained on full MNIST, on a server without it
        real = data.load(data.EMBEDDED)
    pool = inversion.real_images(real, digits)
    return pool, inversion.typical_nearest(pool), real.description


def real_pool(run: Run) -> tuple[torch.Tensor, float, str]:
    """The real training images of the run's digits, the typical nearest-neighbour distance, and their source."""
    return _pool(run.cfg.data, tuple(run.cfg.digits))


# ---- the latent point ---------------------------------------------------------------------------------
def sync_point(run: Run) -> None:
    """A new generator starts at seed 0's point, on sliders of the prior's usual reach."""
    if ss.get("lat_model") != id(run):
        ss.lat_model = id(run)
        ss.lat_seed = 0
        ss.pop("lat_reach", None)
        set_point(run, latent.point(run.cfg, 0), run.cfg.digits[0] if run.cfg.conditional else None)


def reach(run: Run) -> float:
    """How far the dimension sliders go: the prior's usual extent, or farther to hold a point opened here."""
    return max(latent.extent(run.cfg), ss.get("lat_reach", 0.0))


def set_point(run: Run, z: torch.Tensor, digit: int | None = None) -> None:
    """Put z into the sliders and clear the direction offsets. A point past the prior's usual reach arrives whole:
    the sliders widen to hold it (up to MAX_REACH, past which it is clipped, and the page says so), and narrow
    again for the next point that needs no more (a wide slider makes a point inside ±1 hard to move finely)."""
    far = float(z.abs().max()) if len(z) else 0.0
    if far > latent.extent(run.cfg):
        ss.lat_reach = min(MAX_REACH, math.ceil(far * 2) / 2)
    else:
        ss.pop("lat_reach", None)
    ss.pop("lat_clipped", None)  # a warning for this point only
    if far > MAX_REACH:
        ss.lat_clipped = (f"This point reaches {far:.1f} along one dimension; the sliders stop at ±{MAX_REACH:g}, so "
                          f"it was clipped there, and the image differs a little from the point's own.")
    e = reach(run)
    for i, v in enumerate(z.tolist()):
        ss[f"lat_z_{i}"] = round(min(e, max(-e, v)), 2)
    if digit is not None:
        ss.lat_digit = digit
    for key in [k for k in ss if k.startswith(("lat_pc_", "lat_attr_"))]:
        ss[key] = 0.0


def go_to_seed(run: Run) -> None:
    """Callback: jump to the point of the seed in the Seed box."""
    set_point(run, latent.point(run.cfg, int(ss.lat_seed)))


def random_point(run: Run) -> None:
    """Callback: a fresh random seed, and its point."""
    ss.lat_seed = int(torch.randint(0, 100_000, ()).item())
    go_to_seed(run)


def digit(run: Run) -> int | None:
    return ss.get("lat_digit", run.cfg.digits[0]) if run.cfg.conditional else None


def base_z(run: Run) -> torch.Tensor:
    return torch.tensor([ss.get(f"lat_z_{i}", 0.0) for i in range(run.cfg.latent_dim)])


def edited_z(run: Run) -> torch.Tensor:
    """The sliders' point plus the offsets along the principal and attribute directions, in σ units."""
    z = base_z(run)
    s = latent.sigma(run.cfg)
    for i, v in enumerate(directions(run).vectors):
        z = z + s * ss.get(f"lat_pc_{i}", 0.0) * v
    for a in attributes(run):
        z = z + s * ss.get(f"lat_attr_{a.key}", 0.0) * a.vector
    return z


def bake(run: Run) -> None:
    """Callback: make the edited point the sliders' point, so the direction sliders start from zero again."""
    set_point(run, edited_z(run), digit(run))


# ---- sliders ------------------------------------------------------------------------------------------------
def dimension_sliders(run: Run) -> None:
    """One slider per latent dimension: the first 16 in view, the rest in an expander (drawn only while it is open:
    48 sliders more on every move otherwise; their values stay meanwhile)."""
    dims = run.cfg.latent_dim
    _slider_block([f"lat_z_{i}" for i in range(min(dims, FIRST_SLIDERS))], lambda i: f"z{i + 1}", run)
    if dims > FIRST_SLIDERS:
        more = st.expander(f"More dimensions (z{FIRST_SLIDERS + 1} to z{dims})", key="lat_more_dims",
                           on_change="rerun")
        if more.open:
            with more:
                _slider_block([f"lat_z_{i}" for i in range(FIRST_SLIDERS, dims)],
                              lambda i: f"z{FIRST_SLIDERS + i + 1}", run)


def _slider_block(keys: list[str], label, run: Run) -> None:
    e = reach(run)
    for start in range(0, len(keys), 2):  # a row per pair, so a phone's single column reads z1, z2, z3, ...
        for col, i in zip(st.columns(2), range(start, min(start + 2, len(keys)))):
            col.slider(label(i), -e, e, step=0.01, key=keys[i], format="%.2f", **KEEP)


def offset_slider(key: str, label: str, help: str | None = None) -> None:
    ss.setdefault(key, 0.0)
    st.slider(label, -3.0, 3.0, step=0.1, key=key, format="%+.1f σ", help=help, **KEEP)


# ---- the gallery --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Saved:
    name: str
    z: torch.Tensor
    digit: int | None
    model: int  # id() of the run it belongs to
    png: bytes


def gallery(run: Run) -> list[Saved]:
    return [p for p in ss.get("gallery", []) if p.model == id(run)]


def point_name(run: Run, z: torch.Tensor, seed: int, digit: int | None) -> str:
    """What a saved point is: its seed while it is that seed's point; once moved, its coordinates (a few dimensions)
    or that it is one of your own, never a seed it no longer is."""
    if torch.allclose(z, latent.point(run.cfg, seed), rtol=0, atol=0.006):  # the sliders round to 0.01
        name = f"seed {seed}"
    elif len(z) <= 3:
        name = "z = (" + ", ".join(f"{v:.2f}" for v in z.tolist()) + ")"
    else:
        name = "a point of your own"
    return name + ("" if digit is None else f", digit {digit}")


def save_point(run: Run, z: torch.Tensor, digit: int | None, what: str) -> Saved:
    """Keep a point in the gallery (the oldest of this model's points goes past GALLERY_SIZE)."""
    ss.gallery_counter = ss.get("gallery_counter", 0) + 1
    image = latent.generate(run.G, run.cfg, z.reshape(1, -1), None if digit is None else torch.tensor([digit]))
    saved = Saved(f"#{ss.gallery_counter} {what}", z.clone(), digit, id(run),
                  images.grid_png(image, scale=3))
    mine = gallery(run)
    dropped = mine[0] if len(mine) >= GALLERY_SIZE else None
    ss.gallery = [p for p in ss.get("gallery", []) if p is not dropped] + [saved]
    return saved


def find_saved(run: Run, name: str) -> Saved | None:
    return next((p for p in gallery(run) if p.name == name), None)


@dataclass(frozen=True)
class Point:
    name: str
    z: torch.Tensor
    digit: int | None


def point_picker(run: Run, key: str, label: str, default_seed: int) -> Point:
    """An endpoint or corner: a seed's point or a saved one (and, for a conditional G, its digit)."""
    saved = gallery(run)
    sources = ["Seed", "Saved point"] if saved else ["Seed"]
    if ss.get(f"{key}_src") not in sources:
        ss[f"{key}_src"] = "Seed"
    ss.setdefault(f"{key}_seed", default_seed)
    st.segmented_control(label, sources, key=f"{key}_src", required=True, **KEEP)
    if ss[f"{key}_src"] == "Saved point":
        names = [p.name for p in saved]
        if ss.get(f"{key}_saved") not in names:
            ss[f"{key}_saved"] = names[-1]
        chosen = find_saved(run, st.selectbox("Saved point", names, key=f"{key}_saved", **KEEP))
        point = Point(chosen.name, chosen.z, chosen.digit)
    else:
        seed = st.number_input("Seed", 0, MAX_SEED, step=1, key=f"{key}_seed", **KEEP)
        point = Point(f"seed {seed}", latent.point(run.cfg, int(seed)), None)
    if not run.cfg.conditional:
        return point
    if ss.get(f"{key}_digit") not in run.cfg.digits:
        ss[f"{key}_digit"] = point.digit if point.digit is not None else run.cfg.digits[0]
    digit = st.selectbox("Digit", run.cfg.digits, key=f"{key}_digit", **KEEP)
    return Point(point.name, point.z, digit)


def use_saved(key: str, saved: Saved) -> None:
    """Callback: make a saved point the picker `key`'s choice."""
    ss[f"{key}_src"], ss[f"{key}_saved"] = "Saved point", saved.name
    if saved.digit is not None:
        ss[f"{key}_digit"] = saved.digit


# ---- links ---------------------------------------------------------------------------------------------------
def point_link(run: Run, z: torch.Tensor, digit: int | None) -> str:
    """A URL of the Latent space page that opens this point (and this demo model)."""
    base = (st.context.url or "").split("?")[0] or "/latent"
    return f"{base}?{urlencode(points.point_params(run, z, digit))}"


def apply_link() -> list[str]:
    """Open the model and point a link names, once per distinct link. Returns warnings for what it could not use."""
    params = {k: v for k, v in st.query_params.to_dict().items() if k in ("z", "digit", "model")}
    signature = sorted(params.items())
    if not params or ss.get("applied_point_link") == signature:
        return ss.get("point_link_warnings", []) if params else []
    ss.applied_point_link = signature
    warnings = []
    if "model" in params:
        name = params["model"]
        if name in demo_runs():
            state.set_current(demo_runs()[name])
        elif name != points.OWN:
            warnings.append(f"model: {name[:40]!r} is not one of the demo models ({', '.join(demo_runs()) or 'none'}).")
    run = state.current_run() or next(iter(demo_runs().values()), None)
    if params.get("model") == points.OWN and run is not None:
        warnings.append(f"this point was made with a model trained in someone's own session, which a link cannot "
                        f"carry: it is shown in {run.name}, where it draws something else. Ask for the model's "
                        f"checkpoint to see it as they did.")
    if run is None:
        warnings.append("there is no generator to open the point in yet.")
    elif "z" in params:
        z, problem = points.parse_z(params["z"], run.cfg.latent_dim)
        label, digit_problem = points.parse_digit(params.get("digit"), run.cfg)
        warnings += [w for w in (problem, digit_problem) if w]
        if z is not None:
            state.set_current(run)
            ss.lat_model = id(run)
            set_point(run, z, label)
    ss.point_link_warnings = warnings
    return warnings
