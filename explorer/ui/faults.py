"""The Train page's answer to a lost job (its machine or worker went away on a Ray cluster): the reason is shown
with the other endings (explorer.ui.live); this offers to train on from the last weights the server received."""

from __future__ import annotations

import streamlit as st

from ..app import continuation
from ..app.jobs import Job, JobView
from ..config import ConfigError
from . import form, state


def offer_continue(job: Job, view: JobView) -> None:
    weights = job.resume_point() if view.done else None
    if weights is None:
        return
    if st.button(f"Continue training from step {weights.step:,}", type="primary", icon=":material/replay:",
                 key="continue_lost", help="A new run that starts from these weights and goes on with the charts."):
        try:
            carried = continuation.continue_lost(state.session(), state.registry())
        except ConfigError as e:
            form.show_error(e)
            return
        st.session_state.update({f"live_{k}": v for k, v in carried.view().settings.items()})  # the live form's
        st.rerun()
