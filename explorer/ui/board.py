"""The class board (pages/board.py): every run of a class, live from the run store, for its teacher (with the
board link's key) and, when the teacher allows it, read-only for its students.

It reads the store, never this server's sessions, so it shows runs trained on any replica or on Ray. The live part
is a fragment that polls the store every REFRESH_SECONDS; a class that has ended is drawn once, frozen. Names are
strangers' text: shown with st.text or in a table, never as Markdown or HTML.
"""

from __future__ import annotations

import streamlit as st

from .. import charts, images, quality
from ..app import board as B
from ..app.classes import Challenge
from ..app.store import StoreError
from ..app.store.classes import ClassRecord
from . import classroom, presenter, state

ss = st.session_state
REFRESH_SECONDS = 2.0
GALLERY_COLUMNS = 6
SHORT = {"fid": "FD", "looks_real": "real", "read_as": "read as"}  # a figure's name in a narrow column
WALL_COLUMNS = 10  # presenter mode: 30 students in three rows at 1280x720
WALL_CSS = f"""<style>
.st-key-board_wall [data-testid="stText"], .st-key-board_wall [data-testid="stText"] * {{
  font-size: {presenter.TEXT_PX}px; line-height: 1.25; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }}
.st-key-board_wall [data-testid="stVerticalBlock"] {{ gap: 0.2rem; }}
</style>"""


def page() -> None:
    presenting = presenter.active()
    code = classroom.code_in_link()
    if not presenting:
        st.title(f"Class {code}" if code else "Class board")
    if code is None:
        st.info("A class board opens from its link: `/board?class=CODE` (with the teacher's key for the teacher). "
                "A teacher starts a class on the Home page.", icon=":material/leaderboard:")
        return
    key = st.query_params.get("key", "")
    try:
        record, challenge = state.classes().get(code)
        teacher = bool(key) and state.classes().book.is_teacher(code, key)
    except StoreError as e:
        st.error(f"{str(e)[:1].upper()}{str(e)[1:]}.", icon=":material/groups:")
        return
    if key and not teacher:
        st.error(f"This board link's key is not class {code}'s, so none of the teacher's actions are here. Open the "
                 f"board link the class was started with.", icon=":material/key_off:")
    if not teacher and not record.board_open:
        st.info(f"Class {code}'s board is for its teacher for now: the teacher decides when the class may see it.",
                icon=":material/visibility_off:")
        return
    if not presenting:
        st.caption(f"Students join at /train?class={code}. "
                   + ("The class has ended: the board is frozen." if record.ended else
                      f"The board follows every run live (every {REFRESH_SECONDS:g} s)."))
    if teacher and not presenting:
        _teacher_actions(record, challenge, key)
    if challenge is not None:
        st.markdown(f"**Leaderboard.** {challenge.rule()}")
    every = None if record.ended else REFRESH_SECONDS
    st.fragment(_live, run_every=every)(code, key if teacher else "", challenge, every is not None)


def _live(code: str, key: str, challenge: Challenge | None, polling: bool) -> None:
    teacher = bool(key)
    book = state.classes().book
    try:
        record = book.get(code)
        rows = book.board(code)
    except StoreError as e:
        st.error(f"The board cannot be read now ({e}); it tries again in a moment.", icon=":material/cloud_off:")
        return
    if record.ended and polling:
        st.rerun()  # the class ended meanwhile: drawn once more, frozen
    board = B.entries(rows, challenge, teacher)
    if presenter.active():
        _wall(board, state.wall_grids().for_runs([e.row.run_id for e in board]), challenge)
        return
    grids = state.board_grids().for_runs([e.row.run_id for e in board])
    if not board:
        st.info("No runs yet: they appear here as students start them.", icon=":material/hourglass_empty:")
        return
    if waiting := B.waiting(board):
        st.text(f"Waiting for a training slot ({len(waiting)}): " + ", ".join(waiting))
    _table(board, challenge, teacher)
    _gallery(board, grids, challenge)
    spot = next((e for e in board if e.row.run_id == ss.get("board_spot")), None)
    if spot is not None:
        _spotlight(spot, rows, grids, key)


def _table(board: list[B.Entry], challenge: Challenge | None, teacher: bool) -> None:
    table = B.table(board, challenge, teacher)
    config = {"Read as": st.column_config.NumberColumn(format="percent"),
              "Looks real": st.column_config.NumberColumn(format="percent"),
              "Fréchet distance": st.column_config.NumberColumn(format="%.1f"),
              "Step": st.column_config.NumberColumn(format="localized")}
    event = st.dataframe(table, hide_index=True, column_config=config, on_select="rerun",
                         selection_mode="single-row", key="board_table")
    chosen = list(event.selection.rows) if event is not None else []
    # Only a new click spotlights: the selection stays on its row index while a refresh may reorder the rows.
    if chosen != ss.get("board_table_seen"):
        ss.board_table_seen = chosen
        if chosen and chosen[0] < len(board):
            ss.board_spot = board[chosen[0]].row.run_id
    st.caption("Click a column's name to sort by it; click a row to spotlight its run.")


def _gallery(board: list[B.Entry], grids: dict, challenge: Challenge | None) -> None:
    st.subheader("Gallery")
    st.caption("Each run's newest samples, from the same fixed latent batch as its Train page.")
    for start in range(0, len(board), GALLERY_COLUMNS):
        for col, entry in zip(st.columns(GALLERY_COLUMNS), board[start:start + GALLERY_COLUMNS]):
            with col.container(border=True):
                found = grids.get(entry.row.run_id)
                if found is not None:
                    st.image(found.png, width="stretch", output_format="PNG")
                st.text(entry.label)
                st.text(f"{entry.status} · step {entry.row.step:,}" + (" · hidden" if entry.row.hidden else ""))
                if entry.row.figures:
                    st.text(_short_figure(entry, challenge))
                if st.button("Spotlight", key=f"spot_{entry.row.run_id}", icon=":material/center_focus_strong:"):
                    ss.board_spot = entry.row.run_id


def _wall(board: list[B.Entry], grids: dict, challenge: Challenge | None) -> None:
    """Presenter mode: the whole class at a glance, ten to a row, names and figures at 18 px."""
    st.html(WALL_CSS)
    with st.container(key="board_wall"):
        if not board:
            st.text("No runs yet.")
        for start in range(0, len(board), WALL_COLUMNS):
            for col, entry in zip(st.columns(WALL_COLUMNS, gap="small"), board[start:start + WALL_COLUMNS]):
                with col:
                    found = grids.get(entry.row.run_id)
                    if found is not None:
                        st.image(found.png, width=96, output_format="PNG")
                    st.text(entry.student)  # the wall's CSS cuts what does not fit its column, with an ellipsis
                    st.text(_short_figure(entry, challenge))


def _short_figure(entry: B.Entry, challenge: Challenge | None) -> str:
    """"#1 · FD 20": the place and the ranking figure (else the Fréchet distance), in a narrow column; the status
    before the first reading."""
    f = entry.row.figures
    key = challenge.figure if challenge else "fid"
    if key not in f:
        return entry.status
    place = f"#{entry.rank} · " if entry.rank else ""
    value = f"FD {f[key]:.0f}" if key == "fid" else f"{SHORT[key]} {f[key]:.0%}"
    return place + value


def _spotlight(entry: B.Entry, rows, grids: dict, key: str) -> None:
    st.subheader("Spotlight")
    st.text(entry.label)
    try:
        record = state.saver().store.load_record(entry.row.run_id)
    except StoreError as e:
        st.error(f"This run cannot be read now: {e}.", icon=":material/error:")
        return
    left, right = st.columns([1, 2])
    if record.snapshots:
        newest = record.snapshots[-1]
        left.image(images.grid_png(newest.images, nrow=8, scale=3), output_format="PNG", width="stretch")
        left.caption(f"Samples at step {newest.step:,}")
    with right:
        presenter.chart(charts.loss_figure(record.history), key="spot_loss")
        if record.readings:
            presenter.chart(charts.fid_figure(quality.series(record.readings), record.summary.step), key="spot_fid")
    st.markdown("**Its settings beside the class's most common ones** (differences first)")
    st.dataframe(B.settings_beside_class(entry.row, rows), hide_index=True,
                 column_config={"Differs": st.column_config.CheckboxColumn("Differs")})
    if key:
        _spotlight_actions(entry, key)


def _spotlight_actions(entry: B.Entry, key: str) -> None:
    book, code, run_id = state.classes().book, st.query_params.get("class", ""), entry.row.run_id
    row = st.container(horizontal=True)
    if row.button("Show this run again" if entry.row.hidden else "Hide this run", key="spot_hide_run"):
        book.hide_run(code, key, run_id, not entry.row.hidden)
        st.rerun(scope="fragment")
    if row.button("Show the name again" if entry.row.name_hidden else "Hide the name", key="spot_hide_name"):
        book.hide_name(code, key, entry.row.member_id, not entry.row.name_hidden)
        st.rerun(scope="fragment")
    if row.button("Open in Latent space", key="spot_open", type="primary", icon=":material/grid_view:",
                  help="A copy of this run becomes your current generator; the student's run is not touched."):
        try:
            run = state.saver().store.load_run(run_id)
        except StoreError as e:
            st.error(f"This run cannot be opened: {e}.", icon=":material/error:")
            return
        run.name = f"{entry.student}: {run.name} (a copy)"
        state.add_run(run)
        st.switch_page("pages/latent.py")


def _teacher_actions(record: ClassRecord, challenge: Challenge | None, key: str) -> None:
    code, book = record.code, state.classes().book
    with st.expander("Teacher", icon=":material/admin_panel_settings:", expanded=False):
        st.text(f"Student link: /train?class={code}   ·   {record.students} joined")
        st.toggle("Students may see this board (read-only)", value=record.board_open, key="board_open_switch",
                  on_change=lambda: book.set_board_open(code, key, bool(ss.board_open_switch)))
        rows = book.board(code)
        board = B.entries(rows, challenge, True)
        grids = state.board_grids().for_runs([e.row.run_id for e in board])
        downloads = st.container(horizontal=True)
        downloads.download_button("The table (CSV)", B.csv_text(B.table(board, challenge, True)),
                                  f"class-{code}.csv", "text/csv", on_click="ignore", icon=":material/download:")
        downloads.download_button("The grids (PNGs in a ZIP)", B.grids_zip(board, {i: g.png for i, g in grids.items()}),
                                  f"class-{code}-grids.zip", "application/zip", on_click="ignore",
                                  icon=":material/download:")
        actions = st.container(horizontal=True)
        if not record.ended:
            with actions.popover("End the class", icon=":material/stop_circle:"):
                st.caption("The board freezes and stays readable; nobody can join, and new runs stay their "
                           "students' own.")
                if st.button("End it now", key="board_end", type="primary"):
                    book.end(code, key)
                    st.rerun()
        with actions.popover("Delete the class", icon=":material/delete:"):
            st.caption("The class and its names go for good, and its runs leave the board (they stay their "
                       "students' own). The links stop working.")
            if st.button("Delete it now", key="board_delete", type="primary"):
                book.delete(code, key)
                st.success(f"Class {code} was deleted.")
                st.stop()
