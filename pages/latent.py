"""Latent space: coming in a later issue. Says what it will show, and links to Train."""

import streamlit as st

from explorer.ui import shell, state, visuals

shell.ensure_entry()  # a first request may bypass streamlit_app.py; send it through

st.title("Latent space")
st.markdown(
    "Every image G draws starts as a point *z* in its **latent space**: a list of random numbers. "
    "This page will let you move through that space: a map of a 2-D latent space, sliders for each "
    "dimension, and the digit each point becomes.")
run = state.current_run()
if run is None:
    st.info("Train a generator first: this page explores the current one.", icon=":material/info:")
else:
    st.image(visuals.samples_png(run), caption=f"{run.name}: 32 points of its latent space ({run.summary})")
    st.info("The interactive explorer arrives in a later version.", icon=":material/construction:")
st.page_link("pages/train.py", label="Go to the Train page", icon=":material/model_training:")
