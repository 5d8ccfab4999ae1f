"""The sidebar every page shares: the current generator, its data, and this session's training job."""

from __future__ import annotations

import streamlit as st

from ..app import share
from . import presenter, state

# The query parameters each page reads (besides the session token and presenter mode, which every page keeps).
# Streamlit keeps the address's parameters across a page switch; a page drops those it does not read, so the
# Home page's address is no stale setup, and a setup link never carries a latent point.
PAGE_PARAMS = {"train": None, "latent": ("z", "digit", "model"), "board": ("key",)}  # None: every parameter
SECRET_PARAMS = ("key",)  # a board's teacher key: on the board's own address only, never carried to another page


def show(page: str, poll_job: bool) -> None:
    """Adopt a finished run, then draw the sidebar; with `poll_job`, a line about the training job. `page` is the
    page's url path ("" for Home)."""
    if problems := state.startup_problems():  # a server that is not set up right trains nothing, and says why
        st.error("This server cannot start: nothing can be trained or kept until what is below is fixed. Then "
                 "reload this page (a setting needs a restart of the server first).", icon=":material/settings_alert:")
        for problem in problems:
            st.text(f"• {problem}")  # as text: a setting's value is shown as it was written
        st.stop()
    state.session()  # this tab's session, found again by the address's token after a reload
    state.say_if_gone()
    _drop_other_pages_params(page)
    state.sync()
    presenter.sync_with_url()
    with st.sidebar:
        presenter.toggle()
        st.subheader("Current generator")
        run = state.current_run(nets=False)  # its name: its nets stay in the run store until a page draws with them
        job = state.job()
        if run is None:
            if job is not None and not job.done:
                st.caption(f"None yet: {job.name} is training, and becomes the current generator when it finishes.")
            else:
                st.caption("None yet. Train one on the Train page, or upload a checkpoint on the Runs page.")
            st.caption(f"Data: {state.default_data_description()}")
        else:
            st.markdown(f"**{run.name}**  \n{run.summary}")
            st.caption(f"Data: {run.data_description}")
        if poll_job and job is not None and not job.done:  # the Train page shows the job itself
            every = None if job.paused else 2.0
            st.fragment(_job_line, run_every=every)(every is not None)


def _job_line(polling: bool) -> None:
    job = state.job()
    if job is None:
        return
    view = job.view()
    if view.done and polling:
        st.rerun()  # a full rerun adopts the new generator and stops this polling
    status = view.status_text
    st.divider()
    st.markdown(f"**{job.name}**: {status}, step {view.step:,}")
    st.progress(view.fraction)
    stats = state.registry().stats()
    st.caption(f"Server: {stats['running']} of {stats['max_jobs']} training slots busy, {stats['queued']} waiting.")


def _drop_other_pages_params(page: str) -> None:
    reads = PAGE_PARAMS.get(page, ())
    for key in list(st.query_params):
        secret = key in SECRET_PARAMS and key not in (reads or ())
        stale = reads is not None and key not in reads and key not in share.IGNORED  # kept: the session, presenter
        if secret or stale:
            del st.query_params[key]
