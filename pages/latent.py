"""Latent space: move one latent point by hand, along principal and attribute directions, and keep points."""

import streamlit as st
import torch

from explorer import gradients, images, inversion, latent
from explorer.config import MAX_SEED
from explorer.losses import LOSSES
from explorer.reader import load_reader
from explorer.ui import clickable, explore
from explorer.ui.widgets import KEEP

ss = st.session_state


@st.fragment  # a slider move reruns only this part of the page
def point_explorer(run) -> None:
    explore.sync_point(run)
    cfg = run.cfg
    controls, view = st.columns([3, 2], gap="large")
    with controls:
        row = st.container(horizontal=True, vertical_alignment="bottom")  # wraps, never cuts a label short
        row.number_input("Seed", min_value=0, max_value=MAX_SEED, step=1, key="lat_seed", width=150, **KEEP)
        row.button("Go to seed", on_click=explore.go_to_seed, args=(run,))
        row.button("Random", on_click=explore.random_point, args=(run,), icon=":material/casino:")
        if cfg.conditional:
            st.pills("Digit (the label a conditional G draws)", cfg.digits, key="lat_digit", required=True, **KEEP)
        # Only the open tab runs (on_change="rerun"): the hidden ones cost every slider move otherwise, the principal
        # plane's 49 pictures among them. Their offsets keep their values meanwhile (KEEP).
        dims, pcs, attrs = st.tabs(["Dimensions", "Principal directions", "Attributes"], key="lat_tab",
                                   on_change="rerun")
        with dims:
            st.caption(f"z has {cfg.latent_dim} numbers drawn from a {cfg.prior} prior; each slider is one of them.")
            if explore.reach(run) > latent.extent(cfg):
                st.caption(f"The sliders reach ±{explore.reach(run):g}, past the prior's usual "
                           f"±{latent.extent(cfg):g}, to hold the point you opened whole.")
            if ss.get("lat_clipped"):
                st.warning(ss.lat_clipped, icon=":material/warning:")
            explore.dimension_sliders(run)
        if pcs.open:
            with pcs:
                principal_sliders(run)
        if attrs.open:
            with attrs:
                attribute_sliders(run)
        st.button("Make the edited point the sliders' point", on_click=explore.bake, args=(run,),
                  help="Adds the direction offsets into the dimension sliders and sets the offsets back to 0.")
    z, digit = explore.edited_z(run), explore.digit(run)
    with view:
        show_point(run, z, digit)
    gallery_and_arithmetic(run, z, digit)


def principal_sliders(run) -> None:
    found = explore.directions(run)
    st.caption("The directions along which G's first hidden layer varies most (GANSpace): often stroke width, "
               "slant or shape. Each offset is in units of the prior's σ.")
    clickable.principal_plane(run)
    for i, share in enumerate(found.variance.tolist()):
        explore.offset_slider(f"lat_pc_{i}", f"Direction {i + 1} · {share:.1%} of the variance")
    if st.toggle("Show each direction as a strip (−2σ to +2σ)", key="lat_show_strips"):
        base = explore.edited_z(run)
        steps = torch.linspace(-2, 2, 9) * latent.sigma(run.cfg)
        zs = torch.cat([base + steps[:, None] * v for v in found.vectors])
        st.image(picture(run, zs, nrow=9, scale=2, digit=explore.digit(run)), output_format="PNG",
                 caption="One row per direction, top = direction 1; the middle column is the current point.")


def attribute_sliders(run) -> None:
    found = explore.attributes(run)
    st.caption("Directions fitted on 3,000 samples labelled by ink mass, slant and the digit they are read as.")
    for a in found:
        explore.offset_slider(f"lat_attr_{a.key}", a.label, help=a.effect)


def show_point(run, z, digit) -> None:
    seen = latent.look(run.G, run.cfg, z, digit, run.D, load_reader())
    image = seen.images[0]
    row = st.container(horizontal=True, gap="medium")  # the explanation beside the picture, below it on a phone
    big, side = row.container(width=280), row.container(width=240)
    pushes = side.toggle("What D tells G", key="lat_show_push", **KEEP,
                         help="Colour the digit by how D's verdict pushes G: the gradient of G's loss on each pixel.")
    if pushes and run.D is not None:
        big.image(push_png(run, z, digit), width=280, output_format="PNG")
        side.markdown(":red[**Red**]: where D would believe this digit more with more ink; :blue[**blue**]: with "
                      "less. The stronger the colour, the harder D pushes; where the digit keeps its grey, D hardly "
                      "cares. This is all G ever learns from: it never sees a real digit.")
    else:
        big.image(images.grid_png(image[None], scale=10, padding=0), width=280, output_format="PNG")
        if pushes:
            side.info("This checkpoint has no discriminator (only G was uploaded), so there is no D to tell G "
                      "anything.", icon=":material/info:")
    a, b = st.columns(2)
    a.metric("Read as", f"{seen.digits[0]}", f"{seen.probabilities[0].max():.0%} sure", delta_color="off",
             delta_arrow="off")
    if seen.d_scores is not None:
        scale = "P(real)" if LOSSES[run.cfg.ended().loss].probabilities else "critic score"
        b.metric("D's verdict", f"{seen.d_scores[0]:.2f}", scale, delta_color="off", delta_arrow="off")
    else:
        b.caption("This checkpoint has no discriminator, so there is no D score.")
    found = explore.directions(run)
    u, v = found.vectors[0], found.vectors[min(1, len(found.vectors) - 1)]
    hood = latent.neighbourhood(z, u, v, 0.5 * latent.sigma(run.cfg))
    st.image(picture(run, hood, nrow=3, scale=2, digit=digit), width=200,
             caption="Neighbourhood: ±0.5σ along directions 1 (across) and 2 (down)", output_format="PNG")
    pool, typical, source = explore.real_pool(run)
    near = inversion.nearest_real(image, pool, typical)
    st.image(images.grid_png(torch.stack([image, near.image]), scale=3), width=200,
             caption=f"Memorization check: this image and its nearest real training image ({source}).",
             output_format="PNG")
    verdict = "suspiciously close: G may be copying" if near.distance < 0.5 * typical else "not a copy"
    st.caption(f"Distance {near.distance:.3f} (RMS pixels); real images are typically {typical:.3f} from their "
               f"nearest neighbour: **{verdict}**.")


def push_png(run, z, digit) -> bytes:
    """The point's digit coloured by D's push on each pixel (explorer.gradients), as large as the plain one."""
    labels = latent.digit_labels(run.cfg, 1, digit)
    fakes = latent.forward(run.G, z.reshape(1, -1), labels)
    pushed = gradients.push(run.D, run.cfg, fakes, labels)
    return images.rgb_grid_png(gradients.overlay(fakes, run.cfg, pushed.pixels), scale=10, padding=0)


def gallery_and_arithmetic(run, z, digit) -> None:
    st.subheader("Saved points")
    c1, c2 = st.columns([1, 2])
    if c1.button("Save this point", icon=":material/bookmark_add:"):
        explore.save_point(run, z, digit, explore.point_name(run, z, int(ss.lat_seed), digit))
    if c2.toggle("Link to this point", key="lat_show_link"):
        c2.code(explore.point_link(run, z, digit), language=None, wrap_lines=True)
        if run.source == "demo":
            c2.caption("It opens this point in this demo model, which ships with the app.")
        else:
            c2.caption("A link carries the point, and the model only when it is a demo model that ships with the "
                       "app. This one lives in your session: whoever opens the link sees the point in their own "
                       "current model, with a warning that it draws something else there. To share this model, "
                       "download its checkpoint on the Runs page and send it along.")
    saved = explore.gallery(run)
    if not saved:
        st.caption("Save points to compare them, to use them on the Interpolation page, or for latent arithmetic.")
        return
    cols = st.columns(min(len(saved), 6))
    for i, p in enumerate(saved):
        with cols[i % len(cols)]:
            st.image(p.png, caption=p.name, output_format="PNG")
            st.button("Open", key=f"open_{p.name}", on_click=explore.set_point, args=(run, p.z, p.digit))
    if len(saved) >= 2:
        st.markdown("**Latent arithmetic**: A − B + C. Like *smiling woman − woman + man* with faces: take what "
                    "separates B from A and add it to C.")
        names = [p.name for p in saved]
        a, b, c = (st.selectbox(x, names, index=i % len(names), key=f"arith_{x}") for i, x in enumerate("ABC"))
        pa, pb, pc = (explore.find_saved(run, n) for n in (a, b, c))
        result = pa.z - pb.z + pc.z
        st.image(picture(run, torch.stack([pa.z, pb.z, pc.z, result]), nrow=4, scale=3, digit=pc.digit),
                 caption="A, B, C and A − B + C", output_format="PNG")
        st.button("Open the result", on_click=explore.set_point, args=(run, result, pc.digit))


def picture(run, zs, nrow: int, scale: int, digit=None) -> bytes:
    labels = latent.digit_labels(run.cfg, len(zs), digit)  # a conditional G needs labels, one digit or in turn
    return images.grid_png(latent.generate(run.G, run.cfg, zs, labels), nrow=nrow, scale=scale)


@st.fragment
def truncation(run) -> None:
    psi = st.slider("ψ: how far from the centre of the prior samples may go", 0.0, 1.5, 0.7, step=0.05,
                    key="lat_psi", **KEEP)
    cfg, digit = run.cfg, explore.digit(run)
    key = ("truncation", psi, digit)  # the same 32 points at a ψ: made once per run, not on every slider move
    if key not in run.cache:
        zs = latent.truncated(cfg, 32, psi, seed=1)
        run.cache[key] = images.grid_png(latent.generate(run.G, cfg, zs, latent.digit_labels(cfg, 32, digit)),
                                         nrow=8, scale=2)
    grid = run.cache[key]
    left = st.columns([3, 2])[0]  # about 480 px wide on a desktop, the whole width on a phone
    left.image(grid, width="stretch", output_format="PNG", caption=f"32 samples with z scaled by ψ = {psi:.2f} (the "
               "same 32 points at every ψ). Small ψ: cleaner, more alike; large ψ: more variety, more oddities.")


st.title("Latent space")
st.markdown("Every digit G draws starts as a point *z*: a list of random numbers. Move the point and watch the "
            "digit change; the sliders below are its coordinates, and the directions G itself found most useful.")
warnings = explore.apply_link()
if warnings:
    st.warning("This link could not be used in full:\n" + "\n".join(f"- {w}" for w in warnings),
               icon=":material/link_off:")
run = explore.pick_model()
if run is not None:
    point_explorer(run)
    st.subheader("Truncation: fidelity against variety")
    truncation(run)
