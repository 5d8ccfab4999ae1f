"""Interpolation: walk between latent points; grids, the 2-d map, animations, and inverting real digits."""

import streamlit as st
import torch

from explorer import charts, images, inversion, latent, metrics
from explorer.config import MAX_SEED
from explorer.losses import LOSSES
from explorer.reader import load_reader
from explorer.ui import clickable, drawing, explore
from explorer.ui.widgets import KEEP

ss = st.session_state


def labels_between(run, a: explore.Point, b: explore.Point, t: torch.Tensor):
    """Per-frame labels for a conditional G: the digit's label slides from A's to B's."""
    return latent.blend(a.digit, b.digit, t) if run.cfg.conditional else None


def strip_tab(run) -> None:
    left, right = st.columns(2)
    with left:
        a = explore.point_picker(run, "ep_a", "Endpoint A", 1)
    with right:
        b = explore.point_picker(run, "ep_b", "Endpoint B", 2)
    n = st.slider("Frames", 4, 24, 12, key="strip_frames", **KEEP)
    t = torch.linspace(0, 1, n)
    labels = labels_between(run, a, b, t)
    reader = load_reader()
    seen = {mode: latent.look(run.G, run.cfg, latent.interpolate(a.z, b.z, n, mode), labels, run.D, reader)
            for mode in ("lerp", "slerp")}
    for mode, title in (("lerp", "Linear (lerp): a straight line, through the prior's thin middle"),
                        ("slerp", "Spherical (slerp): along the arc, keeping |z| typical")):
        picture = images.grid_png(seen[mode].images, nrow=n, scale=2)
        st.image(picture, caption=f"{title} · from {a.name} to {b.name}", width="stretch", output_format="PNG")
        st.download_button(f"Download the {mode} strip (PNG)", picture, f"{mode}-strip.png", "image/png",
                           on_click="ignore", key=f"dl_{mode}", icon=":material/download:")
    chart_mode = st.segmented_control("Digit readings along", ["slerp", "lerp"], default="slerp",
                                      key="strip_chart_mode", required=True, **KEEP)
    d_scores = {m: s.d_scores.tolist() for m, s in seen.items() if s.d_scores is not None}
    st.plotly_chart(charts.along_figure(t.tolist(), d_scores, seen[chart_mode].probabilities.tolist(), chart_mode,
                                        critic=not LOSSES[run.cfg.ended().loss].probabilities), key="chart_along")
    st.caption("Dotted lines mark where the digit read changes identity. A dip in D's verdict "
               "mid-way shows the path crossing images D finds unconvincing." if d_scores else
               "Dotted lines mark where the digit read changes identity. This checkpoint has no "
               "discriminator, so D's verdict is not shown.")


def path_tab(run) -> None:
    saved = explore.gallery(run)
    names = st.multiselect("Through saved points, in order", [p.name for p in saved], key="path_saved", **KEEP,
                           help="Save points on the Latent space page; with fewer than two picked, the seeds "
                                "below are used.")
    seeds_text = st.text_input("Or through seeds", "1, 2, 3, 4", key="path_seeds", max_chars=12 * 11, **KEEP)
    per_leg = st.slider("Frames per leg", 2, 12, 6, key="path_per_leg", **KEEP)
    if len(names) >= 2:
        points = [explore.find_saved(run, n) for n in names]
        zs, digits = torch.stack([p.z for p in points]), [p.digit for p in points]
    else:
        try:
            seeds = [int(s) for s in seeds_text.replace(",", " ").split()]
        except ValueError:
            st.error("Seeds must be whole numbers separated by commas, e.g. 1, 2, 3.", icon=":material/error:")
            return
        if not 2 <= len(seeds) <= 12:
            st.error("A path needs 2 to 12 seeds.", icon=":material/error:")
            return
        if not all(0 <= s <= MAX_SEED for s in seeds):  # as the Seed boxes allow (a huge one overflows torch)
            st.error(f"Seeds go from 0 to {MAX_SEED:,}.", icon=":material/error:")
            return
        zs, digits = torch.stack([latent.point(run.cfg, s) for s in seeds]), None
    frames = latent.path(zs, per_leg, "slerp" if run.cfg.prior == "normal" else "lerp")
    labels = None
    if run.cfg.conditional:
        eye = torch.eye(10)
        stops = [d if d is not None else run.cfg.digits[i % len(run.cfg.digits)] for i, d in
                 enumerate(digits or [None] * len(zs))]
        labels = latent.path(eye[stops], per_leg, "lerp")
    picture = images.grid_png(latent.generate(run.G, run.cfg, frames, labels), nrow=per_leg * 2, scale=2)
    st.image(picture, caption=f"{len(frames)} frames through {len(zs)} points, {per_leg} frames per leg",
             width="stretch", output_format="PNG")
    st.download_button("Download the path (PNG)", picture, "path.png", "image/png", on_click="ignore",
                       key="dl_path", icon=":material/download:")


def grid_tab(run) -> None:
    st.markdown("**Between four corners**: each row blends the left and right edges, each column the top and "
                "bottom.")
    cols = st.columns(4)
    corners = []
    for col, (key, label, seed) in zip(cols, [("gc_tl", "Top left", 11), ("gc_tr", "Top right", 12),
                                              ("gc_bl", "Bottom left", 13), ("gc_br", "Bottom right", 14)]):
        with col:
            corners.append(explore.point_picker(run, key, label, seed))
    n = st.slider("Grid size", 3, 12, 8, key="grid_n", **KEEP)
    zs = latent.bilinear_grid(torch.stack([c.z for c in corners]), n)
    labels = None
    if run.cfg.conditional:
        eye = torch.eye(10)
        labels = latent.bilinear_grid(torch.stack([eye[c.digit] for c in corners]), n)
    picture = images.grid_png(latent.generate(run.G, run.cfg, zs, labels), nrow=n, scale=2)
    st.image(picture, caption=f"A {n}×{n} bilinear grid", width=min(640, 60 * n), output_format="PNG")
    st.download_button("Download the grid (PNG)", picture, "grid.png", "image/png", on_click="ignore",
                       key="dl_grid4", icon=":material/download:")
    if run.cfg.latent_dim == 2:
        st.markdown("**The whole latent map**: this generator has only two latent numbers, so every digit it can "
                    "draw is on this one picture.")
        picture = images.grid_png(clickable.whole_map(run), nrow=clickable.MAP_SIDE)
        st.download_button("Download the map (PNG)", picture, "latent-map.png", "image/png", on_click="ignore",
                           key="dl_map", icon=":material/download:")


def animation_tab(run) -> None:
    c1, c2, c3 = st.columns(3)
    kind = c1.segmented_control("Animation", ["Random walk", "Looping tour"], default="Random walk", key="anim_kind",
                                required=True, **KEEP)
    frames = c2.slider("Frames", 12, 96, 48, step=12, key="anim_frames", **KEEP)
    seed = c3.number_input("Seed", 0, MAX_SEED, 0, step=1, key="anim_seed", **KEEP)
    made_for = (id(run), kind, frames, int(seed))  # the GIF shown is the one these settings make
    if not st.button("Make the animation", icon=":material/movie:"):
        if ss.get("animation", (None,))[0] == made_for:
            show_animation(ss.animation[1])
        elif "animation" in ss:
            st.caption("The settings changed: press **Make the animation** for a new one.")
        return
    walkers = []  # nine digits moving at once, a 3×3 grid per frame
    for w in range(9):
        start = latent.point(run.cfg, int(seed) * 9 + w)
        if kind == "Random walk":
            walkers.append(latent.random_walk(run.cfg, start, frames, seed=int(seed) * 9 + w))
        else:
            walkers.append(latent.tour(run.cfg, 4, frames // 4, seed=int(seed) * 9 + w)[:frames])
    labels = latent.digit_labels(run.cfg, 9, None) if run.cfg.conditional else None
    pictures = [images.grid(latent.generate(run.G, run.cfg, torch.stack([w[f] for w in walkers]), labels), nrow=3,
                            scale=3) for f in range(frames)]
    ss.animation = (made_for, images.gif_bytes(pictures, ms_per_frame=80))
    show_animation(ss.animation[1])


def show_animation(gif: bytes) -> None:
    st.image(gif, caption="Nine latent points on the move", width=300)
    st.download_button("Download the animation (GIF)", gif, "latent-walk.gif", "image/gif", on_click="ignore",
                       key="dl_gif_walk", icon=":material/download:")


def inversion_tab(run) -> None:
    st.markdown("Find the latent point whose image looks most like a given digit, by gradient descent on z.")
    source = st.segmented_control("Target", ["A real MNIST image", "Upload a picture", "Draw a digit"],
                                  default="A real MNIST image", key="inv_source", required=True, **KEEP)
    target, what, digit, key = None, "", None, None
    if source == "A real MNIST image":
        pool, _, description = explore.real_pool(run)
        c1, c2 = st.columns(2)
        index = c1.number_input(f"Image number (of {len(pool):,} real images of digits "
                                f"{', '.join(map(str, run.cfg.digits))})", 0, len(pool) - 1, 0, key="inv_index",
                                **KEEP)
        target, what, key = pool[index].reshape(28, 28), f"real image {index}", ("real", int(index))
        c2.caption(f"From the {description}.")
    elif source == "Upload a picture":
        upload = st.file_uploader("A picture of one digit (PNG, JPEG, ...): it is converted to 28×28 and centred "
                                  "as MNIST is", type=["png", "jpg", "jpeg", "bmp", "gif", "webp"], key="inv_upload")
        if upload is None:
            return
        try:
            picture = images.read_digit(upload.getvalue())
        except images.ImageError as e:
            st.error(f"**{upload.name}** can't be used: {e}.", icon=":material/error:")
            return
        target, what, key = picture.image, f"upload {upload.name}", ("upload", upload.file_id)
        if picture.note:
            st.info(picture.note, icon=":material/info:")
    else:
        pad_column, verdict_column = st.columns(2, gap="large")
        with pad_column:
            drawn = drawing.pad("inv_pad")
        if drawn.image is None:
            verdict_column.info(drawn.message, icon=":material/draw:")
            return
        target, what, key = drawn.image, "drawing", ("drawing", drawn.image.numpy().tobytes())  # each stroke: new
    if ss.get("inv_target") != (id(run), key):  # a new picture: its own digit label, and no old result under it
        ss.inv_target = (id(run), key)
        ss.pop("inv_digit", None)
        ss.pop("inversion", None)
    if run.cfg.conditional:
        guess = int(metrics.probabilities(target[None]).argmax())
        ss.setdefault("inv_digit", guess if guess in run.cfg.digits else run.cfg.digits[0])
        digit = st.selectbox("Digit label to invert with", run.cfg.digits, key="inv_digit")
    if source == "Draw a digit":
        with verdict_column:
            drawing.verdict(run, target, digit)
    st.image(images.grid_png(target[None], nrow=1, scale=4), caption="The target, as G sees it (28×28)",
             output_format="PNG")
    row = st.container(horizontal=True)
    if row.button("Find its latent point", type="primary", icon=":material/search:"):
        ss.inversion = find_point(run, target, digit, what)
    if source == "Draw a digit" and row.button("Find its latent point and open it", icon=":material/open_in_new:"):
        ss.inversion = find_point(run, target, digit, what)
        open_on_latent_page(run, ss.inversion[2])
    if "inversion" in ss:
        show_inversion(run, *ss.inversion)


def find_point(run, target, digit, what: str):
    """Invert the target with a progress bar; the point found goes into the gallery. Returns (target, found, saved)."""
    bar = st.progress(0.0, text="Searching...")
    steps = 300
    found = inversion.invert(run.G, run.cfg, target, digit, steps=steps, progress=lambda i, err: bar.progress(
        i / steps, text=f"Step {i} of {steps}: RMS pixel error {err:.3f}"))
    return target, found, explore.save_point(run, found.z, digit, f"inverted {what}")


def open_on_latent_page(run, saved) -> None:
    ss.lat_model = id(run)
    explore.set_point(run, saved.z, saved.digit)  # the whole point: the sliders widen to hold it
    st.switch_page("pages/latent.py")


def show_inversion(run, target, found, saved) -> None:
    st.image(images.grid_png(torch.stack([target, found.image]), nrow=2, scale=4),
             caption="Target and G's closest image", output_format="PNG")
    st.markdown(f"RMS pixel error **{found.error:.3f}** (the best random start: {found.start_error:.3f}). "
                f"Saved as **{saved.name}**.")
    c1, c2, c3 = st.columns(3)
    c1.button("Use as endpoint A", on_click=explore.use_saved, args=("ep_a", saved))
    c2.button("Use as endpoint B", on_click=explore.use_saved, args=("ep_b", saved))
    if c3.button("Open on the Latent space page"):
        open_on_latent_page(run, saved)


st.title("Interpolation")
st.markdown("Walk from one latent point to another: if G has learned well, the digit morphs smoothly, with no "
            "nonsense halfway. For a conditional G, the digit's label slides too, so one digit turns into another.")
run = explore.pick_model()
if run is not None:
    tabs = st.tabs(["Between two points", "A path", "Grids and maps", "Animation", "Inversion"])
    for tab, draw in zip(tabs, (strip_tab, path_tab, grid_tab, animation_tab, inversion_tab)):
        with tab:
            draw(run)
