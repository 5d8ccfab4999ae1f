"""Runs: this session's generators, their downloads, and checkpoint upload."""

import streamlit as st

from explorer.checkpoints import CheckpointError
from explorer.ui import shell, state, visuals, widgets
from explorer.ui.runs import Run

shell.ensure_entry()  # a first request may bypass streamlit_app.py; send it through


def take_upload(upload) -> None:
    """Validate an uploaded checkpoint once; a good one becomes the current generator."""
    if st.session_state.get("upload_id") == upload.file_id:
        return
    st.session_state.upload_id = upload.file_id
    st.session_state.upload_error = None
    try:
        state.add_run(Run.from_upload(upload.getvalue(), upload.name))
    except CheckpointError as e:
        st.session_state.upload_error = f"**{upload.name}** can't be used: {e}."
    else:
        st.rerun()  # the sidebar, drawn before this page, names the new current generator


st.title("Runs")
st.markdown("Every generator you trained in this session, newest first. The **current** one is what the "
            "latent pages explore. Runs live only as long as your browser session; download the ones to keep.")

upload = st.file_uploader("Upload a checkpoint (.safetensors) to make it the current generator",
                          type=["safetensors"], key="upload")
if upload is not None:
    take_upload(upload)
    if st.session_state.get("upload_error"):
        st.error(st.session_state.upload_error, icon=":material/error:")
    else:
        st.success(f"Loaded **{upload.name}**: it is now the current generator.", icon=":material/check:")

runs = state.runs()
if not runs:
    st.info("No runs yet: train one on the Train page, or upload a checkpoint above.", icon=":material/info:")
    st.page_link("pages/train.py", label="Go to the Train page", icon=":material/model_training:")
current = state.current_run()
for i, run in enumerate(reversed(runs)):
    with st.container(border=True):
        picture, about = st.columns([1, 3])
        picture.image(run.preview() or visuals.samples_png(run, n=16), caption="samples", output_format="PNG")
        is_current = run is current
        about.markdown(f"### {run.name}{'  · current' if is_current else ''}\n{run.summary}  \n"
                       f"Status: **{run.meta.get('status', 'uploaded' if run.source == 'uploaded' else '?')}** · "
                       f"data: {run.data_description}")
        if about.button("Make current", key=f"current_{i}", disabled=is_current):
            state.set_current(run)
            st.rerun()
        with about:
            widgets.run_downloads(run, key=f"run_{i}")
