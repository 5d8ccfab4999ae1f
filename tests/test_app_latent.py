"""The Latent space and Interpolation pages through AppTest, on the demo models shipped in models/.

A fresh session has no run of its own, so both pages open the first demo model ("three"); the model picker
switches to the others. Picture changes are seen as changes of the image's media URL, which is a hash of its bytes.
"""

import base64
import io
import json

import numpy as np
import pytest
import torch
from apptest_support import APP, session
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from explorer import demos, latent, metrics, tile_maps
from explorer.app.runs import Run
from explorer.ui import explore

pytestmark = pytest.mark.usefixtures("roomy_registry")  # one test trains a run


def page(name: str, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.query_params.update(params)
    at.switch_page(f"pages/{name}.py").run()
    assert not at.exception, at.exception
    return at


def url(image) -> str:
    return image.proto.imgs[0].url


def main_image(at: AppTest) -> str:
    return url(at.image[0])


def captioned(at: AppTest, start: str):
    return next(i for i in at.image if i.captions and i.captions[0].startswith(start))


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest, key: str):
    """The st.plotly_chart with this key, or None."""
    return next((c for c in at.get("plotly_chart") if c.key == key), None)


def pick(at: AppTest, demo: str) -> AppTest:
    picker = at.selectbox(key="model_pick")
    wanted = next(i for i, label in enumerate(picker.options) if label.startswith(demos.DEMOS[demo].title))
    picker.set_value(wanted).run()
    assert not at.exception, at.exception
    return at


def open_tab(at: AppTest, label: str) -> AppTest:
    """Pick a tab of the point's controls, as a click does: only the open tab runs (its widgets exist then)."""
    at.session_state["lat_tab"] = label
    at.run()
    assert not at.exception, at.exception
    return at


def test_every_demo_model_is_shipped():
    assert [d.name for d in demos.available()] == list(demos.DEMOS)


# ---- Latent space ---------------------------------------------------------------------------------------------
def test_the_latent_page_opens_a_demo_with_a_slider_per_dimension():
    at = page("latent")
    run = session(at).current
    assert run.source == "demo" and run.meta["demo"] == "three"
    assert "Demo: digit 3" in at.sidebar.markdown[0].value  # the sidebar names it too
    z0 = latent.point(run.cfg, 0)
    reach = max(3.0, float(z0.abs().max()))  # the sliders hold seed 0's point whole
    # the first 16 in view; the other 48, and the hidden tabs' sliders, are drawn only when opened
    assert [s.key for s in at.slider if s.key.startswith("lat_z_")] == [f"lat_z_{i}" for i in range(16)]
    assert not any(s.key.startswith(("lat_pc_", "lat_attr_")) for s in at.slider)
    at.session_state["lat_more_dims"] = True  # the expander, opened
    dims = [s for s in at.run().slider if s.key.startswith("lat_z_")]
    assert len(dims) == run.cfg.latent_dim and dims[0].label == "z1" and -dims[0].min == dims[0].max >= reach
    assert torch.allclose(torch.tensor([s.value for s in dims]), z0, atol=0.006)
    assert sum(s.key.startswith("lat_pc_") for s in open_tab(at, "Principal directions").slider) == 10
    assert {s.key for s in open_tab(at, "Attributes").slider} >= {"lat_attr_thickness", "lat_attr_slant"}
    labels = [m.label for m in at.metric]
    assert labels == ["Read as", "D's verdict"]
    assert at.metric[0].value == "3"  # the demo's digit, read by the metrics classifier
    assert captioned(at, "Neighbourhood") and captioned(at, "Memorization check")
    assert "not a copy" in " ".join(c.value for c in at.caption)


def test_moving_a_slider_changes_the_image():
    at = page("latent")
    before = main_image(at)
    at.slider(key="lat_z_0").set_value(2.5).run()
    assert main_image(at) != before
    moved = main_image(at)
    open_tab(at, "Principal directions").slider(key="lat_pc_0").set_value(2.0).run()  # a direction moves it too
    assert main_image(at) not in (before, moved)
    open_tab(at, "Dimensions").slider(key="lat_z_1").set_value(-1.0).run()  # the offset holds while its tab is shut
    assert at.session_state["lat_pc_0"] == 2.0


def test_seed_and_random_set_the_point():
    at = page("latent")
    at.number_input(key="lat_seed").set_value(7).run()
    click(at, "Go to seed")
    z7 = latent.point(session(at).current.cfg, 7)
    assert at.slider(key="lat_z_3").value == pytest.approx(round(max(-3, min(3, z7[3].item())), 2))
    seven = main_image(at)
    click(at, "Random")
    assert at.session_state["lat_seed"] != 7 and main_image(at) != seven


def test_baking_the_edits_moves_them_into_the_sliders():
    at = open_tab(page("latent"), "Principal directions")
    at.slider(key="lat_pc_0").set_value(1.5).run()
    z_before = at.session_state["lat_z_0"]
    click(at, "Make the edited point the sliders' point")
    assert at.slider(key="lat_pc_0").value == 0
    assert at.session_state["lat_z_0"] != z_before
    run = session(at).current
    direction = explore.directions(run).vectors[0]
    moved = z_sliders(at, run)
    start = latent.point(run.cfg, 0)
    assert torch.nn.functional.cosine_similarity(moved - start, direction, dim=0) > 0.99


def test_truncation_slider_redraws_its_grid():
    at = page("latent")
    before = url(captioned(at, "32 samples"))
    at.slider(key="lat_psi").set_value(0.2).run()
    assert url(captioned(at, "32 samples")) != before


def test_saved_points_gallery_and_arithmetic():
    at = page("latent")
    click(at, "Save this point")
    at.slider(key="lat_z_1").set_value(-2.0).run()
    click(at, "Save this point")
    saved = at.session_state["gallery"]
    assert [p.name for p in saved] == ["#1 seed 0", "#2 a point of your own"]  # moved: no longer seed 0's
    assert not torch.equal(saved[0].z, saved[1].z)
    assert captioned(at, "A, B, C and A − B + C")
    click(at, "Open the result")  # A − B + C with A = #1, B = #2, C = #1
    expected = 2 * saved[0].z - saved[1].z
    assert at.slider(key="lat_z_1").value == pytest.approx(round(min(3, expected[1].item()), 2))


def test_a_2d_point_is_named_by_its_coordinates_and_the_sliders_narrow_again_after_a_far_point():
    at = page("latent", model="latent-2d", z="3.2,0.5")  # past the uniform prior's ±1: the sliders widen for it
    dims = [at.slider(key=f"lat_z_{i}") for i in range(2)]
    assert dims[0].max == 3.5 and dims[0].value == 3.2
    click(at, "Save this point")
    assert at.session_state["gallery"][-1].name == "#1 z = (3.20, 0.50)"
    click(at, "Go to seed")  # seed 0's point lies inside ±1: back to the prior's own reach, for fine moves
    assert at.slider(key="lat_z_0").max == 1.0 and abs(at.slider(key="lat_z_0").value) <= 1
    click(at, "Save this point")
    assert at.session_state["gallery"][-1].name == "#2 seed 0"


def test_a_point_link_opens_the_demo_and_the_point():
    at = page("latent")
    run = session(at).current
    at.toggle(key="lat_show_link").set_value(True).run()
    link = at.code[0].value
    assert "z=" in link and "model=three" in link
    z = latent.point(run.cfg, 4)  # the demos share a 64-d normal prior
    opened = page("latent", z=",".join(f"{v:.3f}" for v in z.tolist()), model="conditional", digit="5")
    assert not opened.warning
    assert session(opened).current.meta["demo"] == "conditional"
    assert opened.slider(key="lat_z_0").value == pytest.approx(round(z[0].item(), 2))
    assert opened.session_state["lat_digit"] == 5
    assert opened.metric[0].value == "5"


@pytest.mark.parametrize("params, words", [
    ({"z": "1,2,abc"}, "numbers separated by commas"),
    ({"z": "1,2"}, "has 2 numbers"),
    ({"z": ",".join(["nan"] * 64)}, "not a finite number"),
    ({"model": "nope"}, "not one of the demo models"),
])
def test_a_garbage_point_link_warns_and_the_page_still_works(params, words):
    at = page("latent", **params)
    assert words in at.warning[0].value
    assert at.metric[0].label == "Read as"


def test_a_conditional_demo_draws_the_picked_digit():
    at = pick(page("latent"), "conditional")
    assert session(at).current.cfg.conditional
    images, read = set(), []
    for digit in range(10):
        at.pills(key="lat_digit").set_value(digit).run()
        images.add(main_image(at))
        read.append(at.metric[0].value == str(digit))
    assert len(images) == 10 and sum(read) >= 8, read  # the demo draws the asked digit ~88-97% of the time


def test_direction_strips_draw_for_every_demo_and_follow_the_picked_digit():
    at = open_tab(page("latent"), "Principal directions")
    at.toggle(key="lat_show_strips").set_value(True).run()
    assert not at.exception, at.exception
    strips = captioned(at, "One row per direction")
    pick(at, "conditional")  # the toggle stays on while the model changes
    first = url(captioned(at, "One row per direction"))
    at.pills(key="lat_digit").set_value(7).run()
    assert not at.exception, at.exception
    assert len({url(strips), first, url(captioned(at, "One row per direction"))}) == 3


def test_the_model_picker_switches_generators():
    at = pick(page("latent"), "latent-2d")
    run = session(at).current
    assert run.cfg.latent_dim == 2 and "2-d latent" in at.sidebar.markdown[0].value
    dims = [s for s in at.slider if s.key.startswith("lat_z_")]
    assert len(dims) == 2 and (dims[0].min, dims[0].max) == (-1, 1)  # a uniform prior's range
    assert sum(s.key.startswith("lat_pc_") for s in open_tab(at, "Principal directions").slider) == 2


# ---- Interpolation ------------------------------------------------------------------------------------------
def test_interpolation_strips_lerp_and_slerp_with_the_chart():
    at = page("interpolation")
    lerp, slerp = captioned(at, "Linear (lerp)"), captioned(at, "Spherical (slerp)")
    assert "from seed 1 to seed 2" in slerp.captions[0] and url(lerp) != url(slerp)
    assert at.get("plotly_chart")
    before = url(slerp)
    at.slider(key="strip_frames").set_value(16).run()
    assert url(captioned(at, "Spherical (slerp)")) != before
    at.number_input(key="ep_b_seed").set_value(9).run()
    assert "to seed 9" in captioned(at, "Spherical (slerp)").captions[0]


def test_paths_grids_and_a_bad_seed_list():
    at = page("interpolation")
    assert captioned(at, "19 frames through 4 points") and captioned(at, "A 8×8 bilinear grid")
    at.text_input(key="path_seeds").set_value("1, two").run()
    assert "whole numbers" in at.error[0].value
    assert captioned(at, "A 8×8 bilinear grid")  # the rest of the page still works
    for seeds in ("99999999999999999999, 1", "-1, 4"):  # past what torch takes; below what the Seed boxes take
        at.text_input(key="path_seeds").set_value(seeds).run()
        assert not at.exception and "Seeds go from 0 to 2,147,483,647" in at.error[0].value
        assert captioned(at, "A 8×8 bilinear grid")


def test_the_2d_demo_has_a_latent_map_made_once(monkeypatch):
    made = []
    build = tile_maps.tile_figure
    monkeypatch.setattr(tile_maps, "tile_figure", lambda *a, **k: made.append(1) or build(*a, **k))
    at = pick(page("interpolation"), "latent-2d")
    assert any(c.value.startswith("20×20 grid: z1 from -1") for c in at.caption)
    assert chart(at, "interp_map_0")
    at.slider(key="grid_n").set_value(4).run()  # any rerun of the page
    assert chart(at, "interp_map_0") and len(made) == 1, "the whole map was rebuilt on a rerun"
    three = pick(page("interpolation"), "three")
    assert not any(c.value.startswith("20×20") for c in three.caption)


def test_a_conditional_strip_morphs_one_digit_into_another():
    at = pick(page("interpolation"), "conditional")
    at.selectbox(key="ep_a_digit").set_value(1).run()
    at.selectbox(key="ep_b_digit").set_value(8).run()
    changes = [a["text"] for a in json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["annotations"]]
    assert changes[0].startswith("1→") and changes[-1].endswith("→8")  # the digit read goes from 1 to 8


def test_inverting_a_real_image_saves_a_point_that_can_be_an_endpoint():
    at = page("interpolation")
    at.number_input(key="inv_index").set_value(12).run()
    click(at, "Find its latent point")
    found = at.session_state["inversion"][1]
    assert found.error < found.start_error
    assert any("RMS pixel error" in m.value for m in at.markdown)
    assert at.session_state["gallery"][-1].name.endswith("inverted real image 12")
    click(at, "Use as endpoint A")
    assert at.session_state["ep_a_src"] == "Saved point"
    assert "from #1 inverted real image 12" in captioned(at, "Spherical (slerp)").captions[0]


def test_the_animation_is_a_gif():
    at = page("interpolation")
    click(at, "Make the animation")
    gif = at.session_state["animation"][1]
    assert Image.open(io.BytesIO(gif)).n_frames == 48
    assert captioned(at, "Nine latent points on the move")
    at.segmented_control(key="anim_kind").set_value("Looping tour").run()  # the walk shown is not a tour
    assert not [i for i in at.image if i.captions and i.captions[0].startswith("Nine latent points")]
    assert any("settings changed" in c.value for c in at.caption)
    at.segmented_control(key="anim_kind").set_value("Random walk").run()  # the same settings: shown again
    assert captioned(at, "Nine latent points on the move")


def drawn_digit_png() -> bytes:
    img = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(img).ellipse([50, 30, 150, 170], outline=0, width=16)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_an_uploaded_drawing_is_inverted():
    at = page("interpolation")
    at.segmented_control(key="inv_source").set_value("Upload a picture").run()
    at.file_uploader(key="inv_upload").upload("zero.png", drawn_digit_png()).run()
    assert not at.error and captioned(at, "The target, as G sees it")
    click(at, "Find its latent point")
    assert at.session_state["inversion"][1].error < at.session_state["inversion"][1].start_error


@pytest.mark.parametrize("content", [b"random bytes", np.zeros(10, np.uint8).tobytes()])
def test_a_bad_upload_for_inversion_says_why_and_the_page_keeps_working(content):
    at = page("interpolation")
    at.segmented_control(key="inv_source").set_value("Upload a picture").run()
    at.file_uploader(key="inv_upload").upload("digit.png", content).run()
    assert "digit.png" in at.error[0].value and "not a picture" in at.error[0].value
    assert captioned(at, "Spherical (slerp)")


def test_without_any_model_the_pages_point_to_train(monkeypatch):
    monkeypatch.setattr(demos, "available", lambda: [])
    explore.demo_runs.clear()
    try:
        for name in ("latent", "interpolation"):
            at = page(name)
            assert "No generator yet" in at.info[0].value
    finally:
        monkeypatch.undo()
        explore.demo_runs.clear()


# ---- the latent pages keep their promises -----------------------------------------------------------------
def test_a_new_picture_resets_the_digit_label_and_the_old_result():
    at = pick(page("interpolation"), "conditional")
    pool, _, _ = explore.real_pool(session(at).current)
    labels = metrics.probabilities(pool).argmax(1)
    seven, three = int((labels == 7).nonzero()[0]), int((labels == 3).nonzero()[0])
    at.number_input(key="inv_index").set_value(seven).run()
    assert at.selectbox(key="inv_digit").value == 7
    click(at, "Find its latent point")
    assert captioned(at, "Target and G's closest image")
    at.number_input(key="inv_index").set_value(three).run()
    assert at.selectbox(key="inv_digit").value == 3  # the new picture's own guess
    assert not [i for i in at.image if i.captions and i.captions[0].startswith("Target and G's closest image")]
    assert not any("RMS pixel error" in m.value for m in at.markdown)


def test_a_point_past_the_sliders_arrives_whole_or_says_it_was_clipped():
    z = latent.point(demos.load("three").cfg, 5)
    z[3], z[7] = 4.2, -5.6
    at = page("latent", model="three", z=",".join(f"{v:.3f}" for v in z.tolist()))
    assert at.slider(key="lat_z_7").min <= -5.6 and torch.allclose(z_sliders(at, session(at).current), z, atol=0.006)
    assert "to hold the point you opened whole" in " ".join(c.value for c in at.caption)
    z[7] = -11.0
    far = page("latent", model="three", z=",".join(f"{v:.3f}" for v in z.tolist()))
    assert far.slider(key="lat_z_7").value == -explore.MAX_REACH
    assert "was clipped" in " ".join(w.value for w in far.warning)
    click(far, "Random")  # a point of its own: the warning was for the clipped one only
    assert "was clipped" not in " ".join(w.value for w in far.warning)


def test_a_point_link_from_ones_own_model_says_plainly_what_it_carries():
    from explorer.app.points import OWN

    at = page("latent", model=OWN, z=",".join(["0.5"] * 64))
    text = " ".join(w.value for w in at.warning)
    assert "trained in someone's own session" in text and "Demo: digit 3" in text
    assert session(at).current.meta["demo"] == "three"


def test_a_finished_run_is_offered_never_switched_to_under_the_student():
    from apptest_support import TINY, rerun_until, start

    at = page("latent")
    assert session(at).current.meta["demo"] == "three"
    at.query_params.clear()
    at.query_params.update({**TINY, "s": session(at).token})
    at.switch_page("pages/train.py").run()
    start(at)
    rerun_until(at, "finished")
    assert session(at).current.meta["demo"] == "three"  # still what the student was exploring
    assert any("The latent pages still show **Demo: digit 3**" in m.value for m in at.markdown)
    at.switch_page("pages/latent.py").run()
    assert session(at).current.meta["demo"] == "three" and at.info[0].value.startswith("**Run 1** finished")
    click(at, "Explore Run 1")
    assert session(at).current.name == "Run 1" and not [i for i in at.info if "finished training" in i.value]


# ---- drawing a digit, clicking a map, and what D tells G ----------------------------------------------------
def pad_png(shape: str = "zero") -> bytes:
    """What the pad sends: 280×280 RGBA, black ink on white paper."""
    img = Image.new("RGBA", (280, 280), "white")
    pen = ImageDraw.Draw(img)
    if shape == "zero":
        pen.ellipse([80, 40, 200, 240], outline="black", width=24)
    elif shape == "one":
        pen.line([(140, 40), (140, 240)], fill="black", width=24)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def draw(at: AppTest, png: bytes | None) -> AppTest:
    """The pad sends its canvas, as streamlit-drawable-canvas does after a stroke (its state: a PNG data URL)."""
    url = None if png is None else "data:image/png;base64," + base64.b64encode(png).decode()
    return send_pad(at, {"drawing": {"raw": {"objects": []}, "data": url}, "backgroundFit": None})


def send_pad(at: AppTest, state) -> AppTest:
    at.session_state["inv_pad"] = state  # a component's state is its session-state value: the browser's reply
    at.run()
    assert not at.exception, at.exception
    return at


def drawing_tab(demo: str = "three") -> AppTest:
    at = pick(page("interpolation"), demo)
    at.segmented_control(key="inv_source").set_value("Draw a digit").run()
    assert not at.exception, at.exception
    return at


def select(at: AppTest, key: str, selection: dict) -> AppTest:
    """The browser's reply to a click on the chart `key`: its selection, sent as the chart's widget value. (AppTest
    has no handle for a Plotly chart's selection, so the value is added to the widget states of the next run.)"""
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = chart(at, key).proto.id
    state.string_value = json.dumps({"selection": selection})
    at._run(states)
    assert not at.exception, at.exception
    return at


def tile(index: int) -> dict:
    return {"points": [{"curve_number": 1, "point_number": index, "point_index": index}], "point_indices": [index],
            "box": [], "lasso": []}


def z_sliders(at: AppTest, run) -> torch.Tensor:
    """The point the dimension sliders hold, drawn or not (those past the 16th are drawn while their expander is
    open)."""
    return torch.tensor([at.session_state[f"lat_z_{i}"] for i in range(run.cfg.latent_dim)])


def test_a_blank_pad_asks_for_a_digit_and_a_drawing_is_read_and_judged():
    at = drawing_tab()
    assert "Draw a digit on the pad" in at.info[0].value and not at.metric and not at.error
    draw(at, pad_png("zero"))
    assert [m.label for m in at.metric] == ["Read as", "D's verdict"]
    assert at.metric[0].value == "0" and 0 <= float(at.metric[1].value) <= 1  # P(real) for the demo's loss
    assert captioned(at, "The target, as G sees it")
    zero = url(captioned(at, "The target, as G sees it"))
    draw(at, pad_png("one"))  # the next stroke: read and judged afresh
    assert at.metric[0].value == "1" and url(captioned(at, "The target, as G sees it")) != zero
    draw(at, pad_png("blank"))  # the bin: a white pad
    assert "Draw a digit on the pad" in at.info[0].value and not at.metric and not at.error


def test_a_drawing_is_inverted_and_opened_on_the_latent_page_in_one_click():
    at = draw(drawing_tab(), pad_png("zero"))
    click(at, "Find its latent point and open it")
    assert at.title[0].value == "Latent space"
    saved = at.session_state["gallery"][-1]
    assert saved.name == "#1 inverted drawing"
    assert torch.allclose(z_sliders(at, session(at).current), saved.z, atol=0.006)  # the point, whole


def test_a_drawn_digit_can_be_an_endpoint_and_a_new_drawing_clears_the_result():
    at = draw(drawing_tab(), pad_png("zero"))
    click(at, "Find its latent point")
    assert captioned(at, "Target and G's closest image")
    click(at, "Use as endpoint B")
    assert "to #1 inverted drawing" in captioned(at, "Spherical (slerp)").captions[0]
    draw(at, pad_png("one"))  # a new drawing is a new picture
    assert not [i for i in at.image if i.captions and i.captions[0].startswith("Target and G's closest image")]


def test_a_conditional_drawing_is_judged_with_its_digit_label():
    at = draw(drawing_tab("conditional"), pad_png("zero"))
    assert at.selectbox(key="inv_digit").value == 0  # the reader's guess
    before = at.metric[1].value
    at.selectbox(key="inv_digit").set_value(6).run()
    assert at.metric[1].value != before and any("as a 6" in c.value for c in at.caption)


@pytest.mark.parametrize("state", [
    "a string",
    {"drawing": "a string"},
    {"drawing": {"data": 5}},
    {"drawing": {"data": "data:text/html,<script>alert(1)</script>"}},
    {"drawing": {"data": "data:image/png;base64,!!!"}},
    {"drawing": {"data": "data:image/png;base64," + base64.b64encode(b"GIF89a junk").decode()}},
])
def test_a_pad_that_sends_no_drawing_says_so_plainly(state):
    at = send_pad(drawing_tab(), state)
    assert "press its bin button" in at.info[0].value and not at.metric
    assert captioned(at, "Spherical (slerp)")  # the rest of the page still works


def test_a_click_on_the_principal_plane_moves_the_point_there():
    at = open_tab(page("latent"), "Principal directions")
    run = session(at).current
    found, start = explore.directions(run), z_sliders(at, run)  # seed 0's point, as the sliders hold it
    tiles = latent.plane(start, found.vectors[0], found.vectors[1], 7, 0.5 * latent.sigma(run.cfg))
    select(at, "lat_plane_0", tile(0))  # top left: 1.5σ back along directions 1 and 2
    first = z_sliders(at, run)
    assert torch.allclose(first, tiles[0], atol=0.006)
    select(at, "lat_plane_1", tile(0))  # a fresh chart: the same tile again is one more step
    assert torch.allclose(z_sliders(at, run), latent.plane(first, found.vectors[0], found.vectors[1], 7,
                                                           0.5 * latent.sigma(run.cfg))[0], atol=0.006)
    select(at, "lat_plane_2", tile(24))  # the middle: where it is already
    assert torch.allclose(z_sliders(at, run), z_sliders(at, run)) and chart(at, "lat_plane_3")


@pytest.mark.parametrize("selection, words", [
    ({"points": [{"curve_number": 1, "point_index": i} for i in range(20_000)]}, "20,000 pictures"),
    ({"points": [{"curve_number": 1, "point_index": 10**9}]}, "names no picture"),
    ({"points": [{"curve_number": 0, "point_index": 3}]}, "not on a picture"),
    ({"points": "everything"}, "not a list"),
])
def test_a_click_payload_that_is_no_tile_says_so_and_moves_nothing(selection, words):
    at = open_tab(page("latent"), "Principal directions")
    before = z_sliders(at, session(at).current)
    select(at, "lat_plane_0", selection)
    assert words in at.warning[0].value and "Click a digit" in at.warning[0].value
    assert torch.equal(z_sliders(at, session(at).current), before)


def test_a_click_on_the_2d_map_opens_that_point_on_the_latent_page():
    at = pick(page("interpolation"), "latent-2d")
    select(at, "interp_map_0", tile(21))  # row 1, column 1 of the 20×20 map
    assert at.title[0].value == "Latent space"
    expected = latent.latent_map(session(at).current.cfg, 20)[21]
    assert torch.allclose(z_sliders(at, session(at).current), expected, atol=0.006)


def test_what_d_tells_g_colours_the_digit_and_says_what_it_means():
    at = page("latent")
    plain = main_image(at)
    at.toggle(key="lat_show_push").set_value(True).run()
    assert main_image(at) != plain
    assert any("where D would believe this digit more with more ink" in m.value for m in at.markdown)
    at.slider(key="lat_z_0").set_value(1.0).run()  # another point, another map
    coloured = main_image(at)
    at.toggle(key="lat_show_push").set_value(False).run()
    assert main_image(at) not in (plain, coloured)


def test_a_generator_without_d_says_there_is_nothing_to_show():
    at = page("latent")
    demo = session(at).current
    session(at).add_run(Run("G only", demo.cfg, demo.G, None, {}, source="uploaded"))
    at.run()
    at.toggle(key="lat_show_push").set_value(True).run()
    assert not at.exception, at.exception
    assert any("no discriminator" in i.value for i in at.info)
    assert not any("more with more ink" in m.value for m in at.markdown)
