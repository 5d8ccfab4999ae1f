"""Presenter mode, for a projector: controls collapsed, big pictures and charts, a big caption.

On with the sidebar toggle or the URL flag `?present=1` (`?present=0` turns it off); it then stays on
for the session, on every page, until toggled off.
"""

from __future__ import annotations

import streamlit as st

KEY = "presenter"
FLAG = "present"
ON = ("1", "true", "yes", "on")
# On a 1280×720 projector screen, under the controls and the "Now:" sentence (explorer.ui.live), the sample grid
# and the loss chart beside it end at about 700 px (measured in tests/test_browser_lessons.py).
CHART_HEIGHT = 370
GRID_PX = 300  # the sample grid's width (and height), with its toggle above it and its caption under it
TEXT_PX = 18  # the smallest text on a chart in presenter mode


def sync_with_url() -> None:
    """Take the URL flag, once per distinct value, so the toggle can still turn it off."""
    flag = st.query_params.get(FLAG)
    if flag is not None and st.session_state.get("present_flag_seen") != flag:
        st.session_state.present_flag_seen = flag
        st.session_state[KEY] = _on(flag)


def sidebar_state() -> str:
    """For st.set_page_config: a page opened in presenter mode starts with the sidebar collapsed."""
    flag = st.query_params.get(FLAG)
    return "collapsed" if (_on(flag) if flag is not None else active()) else "auto"


def _on(flag: str) -> bool:
    return flag.strip().lower() in ON


def active() -> bool:
    return bool(st.session_state.get(KEY, False))


def toggle() -> None:
    st.toggle("Presenter mode", key=KEY, on_change=_to_url,
              help="For a projector: hides the controls, makes pictures and charts big, and shows what is "
                   "happening in large type. Also `?present=1` in the address.")


def _to_url() -> None:
    if st.session_state.get(KEY):
        st.query_params[FLAG] = "1"
    else:
        st.query_params.pop(FLAG, None)
    st.session_state.present_flag_seen = st.query_params.get(FLAG)


def chart(fig, key: str) -> None:
    """st.plotly_chart; in presenter mode taller, with every text at least TEXT_PX, to be read from the back of a
    room. Each text is sized where it is drawn: Streamlit's chart theme sets tick and legend fonts of its own, so
    the figure's base font alone would not reach them."""
    if active():
        fig.layout.height = CHART_HEIGHT
        _large_text(fig)
    st.plotly_chart(fig, key=key)


def _large_text(fig) -> None:
    big = dict(size=TEXT_PX)
    fig.update_layout(font=big, title_font=dict(size=TEXT_PX + 4), legend_font=big, hoverlabel_font=big)
    for name in list(fig.layout):
        if name.startswith(("xaxis", "yaxis")):
            fig.layout[name].tickfont = big
            fig.layout[name].title.font = big
    for note in fig.layout.annotations or ():
        note.font.size = TEXT_PX
