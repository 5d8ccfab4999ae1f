"""Interpolation: coming in a later issue. Says what it will show, and links to Train."""

import streamlit as st

from explorer.ui import shell, state, visuals

shell.ensure_entry()  # a first request may bypass streamlit_app.py; send it through

st.title("Interpolation")
st.markdown(
    "Pick two latent points and walk in a straight line from one to the other: if G has learned "
    "well, the digit morphs smoothly, with no nonsense halfway. This page will draw those walks, "
    "and, for a conditional generator, morph one digit into another.")
run = state.current_run()
if run is None:
    st.info("Train a generator first: this page interpolates the current one.", icon=":material/info:")
else:
    st.image(visuals.samples_png(run, n=16), caption=f"{run.name}: the kind of digits it draws ({run.summary})")
    st.info("The interactive walks arrive in a later version.", icon=":material/construction:")
st.page_link("pages/train.py", label="Go to the Train page", icon=":material/model_training:")
