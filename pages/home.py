"""Home: what a GAN is, in one picture, and one-click ways to train one."""

import streamlit as st

from explorer.app.share import QUICK_STARTS
from explorer.losses import LOSSES
from explorer.ui import class_start, teach, visuals, widgets

st.title("GAN Explorer")
st.markdown("Train a **generative adversarial network** on handwritten digits, watch it learn, "
            "then explore what it learned. Everything runs in your browser session.")

st.subheader("Two players, one game")
st.graphviz_chart(visuals.GAME, width="stretch")
left, right = st.columns(2)
left.image(visuals.real_digits_png(), caption="Real MNIST digits: what G must learn to imitate", output_format="PNG")
right.image(visuals.untrained_png(), caption="An untrained generator: noise in, noise out", output_format="PNG")
st.markdown(
    "- **G, the generator**, never sees a real image. It only learns from D's verdicts on its fakes.\n"
    "- **D, the discriminator**, sees both and is scored on telling them apart.\n"
    "- Training alternates: a few steps of D, then one of G. If either wins outright, learning stalls; "
    "the charts on the Train page show who is winning.")

st.subheader("Quick start")
for col, quick in zip(st.columns(len(QUICK_STARTS)), QUICK_STARTS):
    with widgets.card(col, quick.title, quick.description):
        if st.button("Train it", key=f"quick_{quick.title}", type="primary"):
            st.session_state.quick_start = True
            st.switch_page("pages/train.py", query_params=quick.params)
st.page_link("pages/train.py", label="Or set up your own on the Train page", icon=":material/tune:")
st.page_link("pages/latent.py", label="Or explore a model trained earlier: the demo models open on the Latent space "
             "page, no waiting", icon=":material/grid_view:")

st.subheader("Teaching a class")
class_start.show()

st.subheader("Lessons: why GANs fail")
st.markdown("Each lesson makes a GAN fail in one known way, on purpose, in a minute or two: the Train page "
            "says what to watch for on its charts, and offers the fix.")
lesson = teach.cards("Run it", "home_lesson_")
if lesson is not None:
    st.session_state.quick_start = True
    st.switch_page("pages/train.py", query_params=lesson.params())

st.subheader("The losses")
st.markdown("The loss decides how D is scored and what G aims for. Same game, different rules:")
st.table({"Loss": [v.title for v in LOSSES.values()], "What it does": [v.description for v in LOSSES.values()],
          "Usually trained with": [v.usual for v in LOSSES.values()]}, hide_index=True)
