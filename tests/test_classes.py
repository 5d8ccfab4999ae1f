"""Classes (explorer.app.classes, explorer.app.store.classes) and the board's data (explorer.app.board), on SQLite and
on a real PostgreSQL: codes, keys, names, challenges, joining, the board's rows and who may act on them."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta

import pytest
import torch
from sqlalchemy import update

from explorer.app import board as B
from explorer.app.classes import CODE_LENGTH, CODE_LETTERS, Challenge, Classes, display_name, new_code, parse_code
from explorer.app.runs import Run
from explorer.app.store import RunStore, StoreError
from explorer.app.store.classes import ClassBook, ClassGone, NotTeacher
from explorer.app.store.schema import ClassRow, SnapshotRow
from explorer.config import ConfigError, GANConfig
from explorer.progress import Snapshot, Status
from explorer.quality import Reading

ADA, BOB, CY = "token-of-ada-0123456789", "token-of-bob-0123456789", "token-of-cy-01234567890"


@pytest.fixture
def classes(store):
    return Classes(ClassBook(store), max_classes=3, max_students=3)


def reading(step: int, fid: float, looks_real: float = 0.5) -> Reading:
    return Reading(step=step, seconds=1.0, read_as=0.9, looks_real=looks_real, histogram=[0.1] * 10,
                   looks_real_histogram=[0.05] * 10, fid=fid, fid_floor=1.0, variety=1.0, overlap=0.2,
                   d_real=torch.rand(8), d_fake=torch.rand(8), probabilities=True)


def class_run(store: RunStore, token: str, code: str | None, name: str = "Run 1", fid: float | None = None,
              step: int = 100, status=Status.RUNNING, cfg: GANConfig | None = None) -> int:
    """A run in the class as the saver writes it: its row, then its record with readings and a snapshot."""
    cfg = cfg or GANConfig(digits=[3])
    run_id = store.create_run(token, Run(name, cfg, None, None, {}), status=Status.QUEUED, class_code=code)
    shots = [Snapshot(step, torch.full((64, 28, 28), step % 255, dtype=torch.uint8))]
    store.save_record(run_id, status, "", step, {}, [reading(step, fid)] if fid is not None else [], [], [], shots,
                      {})
    return run_id


# ---- codes, keys, names, challenges ----------------------------------------------------------------------
def test_codes_are_six_letters_that_cannot_be_misread():
    codes = {new_code() for _ in range(200)}
    assert len(codes) > 190  # random, not a counter
    for code in codes:
        assert len(code) == CODE_LENGTH and set(code) <= set(CODE_LETTERS)
    assert not set(CODE_LETTERS) & set("0O1lIL")
    assert parse_code(" hjk mnp ") == "HJKMNP"
    for bad in ("HJKMN", "HJKMNPQ", "HJKMN0", "HJKMNO", "HJKMN1", "HJK<b>", ""):
        with pytest.raises(ValueError, match="not a class code"):
            parse_code(bad)


def test_display_names_are_normalised_cut_and_stripped_of_controls():
    assert display_name("  Ada \t  Lovelace ") == "Ada Lovelace"
    assert display_name("Ａｄａ") == "Ada"  # full-width letters, NFKC
    assert display_name("Bob\u202eevil\u200b\x00\x1b[31m") == "Bobevil[31m"  # bidi override, zero-width, controls
    assert display_name("x" * 100) == "x" * 24
    assert display_name("Ada\tLovelace\n") == "Ada Lovelace"
    assert display_name("<img src=x onerror=alert(1)>") == "<img src=x onerror=alert"  # kept as text, cut at 24
    for empty in ("", "   ", "\u200b\u200b", None):
        with pytest.raises(ValueError, match="give a name"):
            display_name(empty)


def test_a_challenge_is_checked_field_by_field():
    c = Challenge.from_dict({"digits": [8, 8], "steps": 2000, "preset": "default", "figure": "fid"})
    assert c == Challenge((8,), 2000, "default", "fid") and Challenge.from_dict(c.to_dict()) == c
    assert "Digit 8, 2,000 steps each, from the default preset" in c.rule() and "lowest Fréchet" in c.rule()
    assert Challenge.from_dict({}) is None
    for bad, field in (({"digits": [], "steps": 100}, "digits"), ({"digits": [10], "steps": 100}, "digits"),
                       ({"digits": [1], "steps": 5}, "steps"), ({"digits": [1], "steps": 1.5}, "steps"),
                       ({"digits": [1], "steps": 100, "preset": "nope"}, "preset"),
                       ({"digits": [1], "steps": 100, "figure": "speed"}, "figure")):
        with pytest.raises(ConfigError) as e:
            Challenge.from_dict(bad)
        assert e.value.field == field


# ---- a class in the store ------------------------------------------------------------------------------
def test_a_class_keeps_its_challenge_and_only_the_hash_of_its_key(classes, store):
    challenge = Challenge((8,), 2000, "", "looks_real")
    code, key = classes.start(challenge, board_open=False)
    record, back = classes.get(code)
    assert back == challenge and not record.board_open and not record.ended and record.students == 0
    with store.engine.connect() as db:
        stored = db.execute(ClassRow.__table__.select()).one()._mapping
    assert key not in str(dict(stored)) and len(stored["key_hash"]) == 64
    assert classes.book.is_teacher(code, key) and not classes.book.is_teacher(code, key[:-1] + "x")
    assert not classes.book.is_teacher(code, "")
    with pytest.raises(ClassGone, match="there is no class HJKMNP"):
        classes.get("HJKMNP")


def test_a_server_holds_at_most_its_cap_of_classes_that_have_not_ended(classes):
    made = [classes.start(None) for _ in range(3)]
    with pytest.raises(StoreError, match="already holds 3 classes"):
        classes.start(None)
    classes.book.end(*made[0])
    classes.start(None)  # an ended class no longer counts


def test_students_join_once_up_to_the_class_limit(classes):
    code, key = classes.start(None)
    ada = classes.join(code, ADA, "  Ada ")
    again = classes.join(code, ADA, "Someone else")  # once per session: the name given first stays
    assert again.member == ada.member and ada.member.name == "Ada"
    assert classes.membership(code, ADA) == ada and classes.membership(code, BOB) is None
    classes.join(code, BOB, "Bob")
    classes.join(code, CY, "Cy")
    with pytest.raises(StoreError, match="is full: it has 3 students"):
        classes.join(code, "token-of-dee-0123456789", "Dee")
    with pytest.raises(ValueError, match="give a name"):
        classes.join(*classes.start(None)[:1], BOB, "\x00")
    classes.book.end(code, key)
    assert classes.join(code, ADA, "Ada").member == ada.member  # a member finds their class after it ended
    other, _ = classes.start(None)
    classes.book.end(other, _)
    with pytest.raises(StoreError, match="has ended"):
        classes.join(other, ADA, "Ada")


def test_teacher_actions_need_the_key(classes, store):
    code, key = classes.start(None)
    member = classes.join(code, ADA, "Ada").member
    run_id = class_run(store, ADA, code)
    book = classes.book
    for action in (lambda k: book.set_board_open(code, k, True), lambda k: book.hide_run(code, k, run_id, True),
                   lambda k: book.hide_name(code, k, member.id, True), lambda k: book.end(code, k),
                   lambda k: book.delete(code, k)):
        for wrong in ("", "not-the-key", key + "x"):
            with pytest.raises(NotTeacher, match="only class .* teacher"):
                action(wrong)
    record, _ = classes.get(code)
    [row] = book.board(code)
    assert not record.board_open and not record.ended and not row.hidden and not row.name_hidden
    book.set_board_open(code, key, True)
    book.hide_run(code, key, run_id, True)
    book.hide_name(code, key, member.id, True)
    [row] = book.board(code)
    assert classes.get(code)[0].board_open and row.hidden and row.name_hidden


def test_the_board_lists_the_class_runs_that_were_not_withdrawn(classes, store):
    code, key = classes.start(Challenge((3,), 500))
    elsewhere, _ = classes.start(None)
    classes.join(code, ADA, "Ada")
    classes.join(code, BOB, "<b>Bob</b>")
    classes.join(elsewhere, CY, "Cy")
    a1 = class_run(store, ADA, code, "Run 1", fid=40.0, step=500, status=Status.FINISHED)
    a2 = class_run(store, ADA, code, "Run 2", fid=None, step=0, status=Status.QUEUED)
    b1 = class_run(store, BOB, code, "Run 1", fid=25.0, step=300)
    class_run(store, CY, elsewhere)
    class_run(store, ADA, None, "Run 3")  # started outside the class: not on its board
    rows = classes.book.board(code)
    assert [(r.run_id, r.student, r.run) for r in rows] == [(a1, "Ada", "Run 1"), (a2, "Ada", "Run 2"),
                                                            (b1, "<b>Bob</b>", "Run 1")]
    assert rows[0].figures == {"step": 500.0, "read_as": 0.9, "looks_real": 0.5, "fid": 40.0}
    assert rows[1].figures == {} and rows[1].status == Status.QUEUED
    assert [(i, n, w) for i, n, w in classes.book.class_runs(ADA)] == [(a1, "Run 1", False), (a2, "Run 2", False)]
    classes.book.withdraw(a1, BOB, True)  # not Bob's run: nothing happens
    assert len(classes.book.board(code)) == 3
    classes.book.withdraw(a1, ADA, True)
    assert [r.run_id for r in classes.book.board(code)] == [a2, b1]
    classes.book.withdraw(a1, ADA, False)
    assert len(classes.book.board(code)) == 3


def test_the_leaderboard_ranks_by_the_challenge_figure_and_hides_from_students(classes, store):
    code, key = classes.start(Challenge((3,), 500, figure="fid"))
    for token, name in ((ADA, "Ada"), (BOB, "Bob"), (CY, "Cy")):
        classes.join(code, token, name)
    a = class_run(store, ADA, code, fid=40.0)
    b = class_run(store, BOB, code, fid=25.0)
    c = class_run(store, CY, code, fid=None)
    _, challenge = classes.get(code)
    board = B.entries(classes.book.board(code), challenge, teacher=True)
    assert [(e.row.run_id, e.rank) for e in board] == [(b, 1), (a, 2), (c, None)]
    by_looks = B.entries(classes.book.board(code), Challenge((3,), 500, figure="looks_real"), teacher=True)
    assert [e.rank for e in by_looks] == [1, 1, None]  # the same share: the same place
    classes.book.hide_run(code, key, b, True)
    student_view = B.entries(classes.book.board(code), challenge, teacher=False)
    assert [(e.row.run_id, e.rank) for e in student_view] == [(a, 1), (c, None)]
    table = B.table(B.entries(classes.book.board(code), challenge, True), challenge, teacher=True)
    assert table[0] == {"Rank": 1, "Student": "Bob", "Run": "Run 1", "Status": "training", "Step": 100,
                        "Read as": 0.9, "Looks real": 0.5, "Fréchet distance": 25.0, "Hidden": True}
    assert "Hidden" not in B.table(student_view, challenge, teacher=False)[0]


def test_downloads_are_safe_for_spreadsheets_and_file_names(classes, store):
    code, key = classes.start(None)
    classes.join(code, ADA, "=HYPERLINK(\"x\")")
    run_id = class_run(store, ADA, code, fid=30.0)
    board = B.entries(classes.book.board(code), None, teacher=True)
    rows = list(csv.DictReader(io.StringIO(B.csv_text(B.table(board, None, True)))))
    assert rows[0]["Student"] == "'=HYPERLINK(\"x\")" and rows[0]["Fréchet distance"] == "30.0"
    grids = B.Grids(classes.book).for_runs([run_id])
    step, png = grids[run_id]
    [(_, wall)] = B.Grids(classes.book, B.WALL).for_runs([run_id]).values()
    assert step == 100 and png[:8] == wall[:8] == b"\x89PNG\r\n\x1a\n" and len(wall) < len(png)
    with zipfile.ZipFile(io.BytesIO(B.grids_zip(board, {run_id: png}))) as z:
        [name] = z.namelist()
        assert name == "001-HYPERLINK__x-Run_1.png" and z.read(name) == png


def test_the_grids_are_encoded_once_per_step(classes, store):
    code, _ = classes.start(None)
    classes.join(code, ADA, "Ada")
    run_id = class_run(store, ADA, code)
    grids = B.Grids(classes.book)
    first = grids.for_runs([run_id])[run_id]
    assert grids.for_runs([run_id])[run_id].png is first.png  # the same bytes: not encoded again
    store.save_record(run_id, Status.RUNNING, "", 200, snapshots=[Snapshot(200, torch.zeros(64, 28, 28,
                                                                                            dtype=torch.uint8))])
    assert grids.for_runs([run_id])[run_id][0] == 200


def test_settings_beside_the_class_mark_the_differences(classes, store):
    code, _ = classes.start(None)
    for token, name in ((ADA, "Ada"), (BOB, "Bob"), (CY, "Cy")):
        classes.join(code, token, name)
    class_run(store, ADA, code, cfg=GANConfig(digits=[3], g_lr=0.0002))
    class_run(store, BOB, code, cfg=GANConfig(digits=[3], g_lr=0.0002))
    odd = class_run(store, CY, code, cfg=GANConfig(digits=[3], g_lr=0.01, g_layers=[64]))
    rows = classes.book.board(code)
    table = B.settings_beside_class(next(r for r in rows if r.run_id == odd), rows)
    differing = {d["Setting"]: (d["This run"], d["Most common in the class"]) for d in table if d["Differs"]}
    assert differing == {"g_lr": ("0.01", "0.0002"), "g_layers": ("64", str(GANConfig().g_layers[0]) + ", "
                                                                  + ", ".join(map(str, GANConfig().g_layers[1:])))}
    assert table[0]["Differs"] and not table[-1]["Differs"]


def test_deleting_a_class_takes_its_runs_off_the_board_and_keeps_them(classes, store):
    code, key = classes.start(None)
    classes.join(code, ADA, "Ada")
    run_id = class_run(store, ADA, code)
    classes.book.delete(code, key)
    with pytest.raises(ClassGone):
        classes.get(code)
    assert classes.membership(code, ADA) is None
    assert [r.id for r in store.runs_of(ADA)] == [run_id]  # the student's own run stays
    assert classes.book.class_runs(ADA) == []


def test_classes_follow_the_store_retention(classes, store):
    code, _ = classes.start(None)
    classes.join(code, ADA, "Ada")
    run_id = class_run(store, ADA, code)
    assert classes.book.evict(keep_days=7) == []
    later = store_time(store, run_id) + timedelta(days=8)
    assert classes.book.evict(keep_days=7, at=later) == [code]
    with pytest.raises(ClassGone):
        classes.get(code)


def store_time(store: RunStore, run_id: int):
    return store.load_record(run_id).summary.updated_at


def test_a_class_that_ended_takes_no_more_runs(classes, store):
    code, key = classes.start(None)
    classes.join(code, ADA, "Ada")
    before = class_run(store, ADA, code, "Run 1")
    classes.book.end(code, key)
    class_run(store, ADA, code, "Run 2")  # started after the end: the student's own
    assert [r.run_id for r in classes.book.board(code)] == [before]


def test_an_altered_grid_leaves_its_run_without_a_thumbnail(classes, store):
    code, _ = classes.start(None)
    classes.join(code, ADA, "Ada")
    classes.join(code, BOB, "Bob")
    spoilt, kept = class_run(store, ADA, code), class_run(store, BOB, code)
    with store.engine.begin() as db:
        db.execute(update(SnapshotRow).where(SnapshotRow.run_id == spoilt).values(images=b"not zlib"))
    assert set(B.Grids(classes.book).for_runs([spoilt, kept])) == {kept}
