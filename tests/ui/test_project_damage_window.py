"""The window and damaged, contested, full or read-only project files.

Every case ends in a dialog or a status-bar message, never a traceback (pytest-qt fails a
test on any exception raised inside a Qt slot or event handler), and Save never writes a
damaged part over the file or loses another writer's save without asking.
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from studio.core.history import HistoryNode
from studio.core.melody import Melody, Note
from studio.core.project_store import ProjectStore
from studio.ui import dialogs
from studio.ui.dialogs import (
    DAMAGED_SAVE_CHOICES,
    OVERWRITE,
    RELOAD,
    SAVE_COPY,
    SAVE_INTACT,
    SAVE_NEW_FILE,
    QuietPrompter,
)
from studio.ui.project_flow import (
    CANNOT_OPEN,
    CANNOT_SAVE,
    CONFLICT_TITLE,
    DAMAGED_TITLE,
    READONLY_TITLE,
)
from tests.core.project_corpus import (
    PART_DAMAGE,
    REFUSED,
    fingerprint,
    make_good_project,
    raw_rows,
    sql,
)
from tests.ui.conftest import png_bytes


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _saved_project(make_window: Any, path: Path) -> dict[str, Any]:
    """A project saved by the window itself: a generation on the canvas, a clip, text."""
    window = make_window()
    store = window.session.store
    blob = store.put_blob(png_bytes(40, 30), "image", "image/png", {})
    node = window.session.history.add(HistoryNode(generator="studio.patterns", params={"width": 40}, seed=3, outputs=[blob], kind="image"))
    window.canvas.add_image(store.get_blob(blob), name="art", blob=blob, node=node.id)
    clip = window.timeline.add_melody(Melody(notes=[Note(60 + i, float(i), 1.0) for i in range(8)], tempo=90.0), name="tune")
    window.text_panel.set_text("# Notes\nkeep me")
    assert window.save_as(path)
    ids = {"blob": blob, "node": node.id, "clip": clip, "timeline": window.timeline.to_document()}
    window.session.close()
    return ids


# --------------------------------------------------------------------------- damaged parts


def test_a_damaged_canvas_opens_with_a_message_and_save_never_wipes_the_timeline_or_text(make_window: Any, tmp_path: Path) -> None:
    path = tmp_path / "x.studio"
    ids = _saved_project(make_window, path)
    sql(path, ("UPDATE documents SET data = ? WHERE name = 'canvas'", ('{"layers":"x"}',)))
    timeline_before = raw_rows(path)["doc:timeline"]

    prompter = QuietPrompter(actions=[SAVE_INTACT])
    window = make_window(prompter=prompter, project=path)
    assert window.session.path == path
    title, text = prompter.warnings[0]
    assert title == DAMAGED_TITLE
    assert "The canvas in x.studio is damaged; the timeline, history, text and artefacts are intact" in text
    assert "layers: should be a list" in text
    # The intact parts are all there; the damaged one is empty and read-only.
    assert window.timeline.doc.find_clip(ids["clip"])
    assert window.text_panel.text() == "# Notes\nkeep me"
    assert [node.id for node in window.session.history.nodes()] == [ids["node"]]
    assert not window.canvas.layers
    assert "[damaged]" in window.windowTitle()

    window.text_panel.set_text("# Notes\nkeep me\nand this")
    assert window.save()
    question_title, question = prompter.chosen[0]
    assert question_title == DAMAGED_TITLE and "save only the intact parts" in question
    after = raw_rows(path)
    assert after["doc:canvas"] == b'{"layers":"x"}'  # never written back
    assert after["doc:timeline"] == timeline_before  # 718 bytes stay 718 bytes
    assert ProjectStore.open(path, readonly=True).load_text() == "# Notes\nkeep me\nand this"
    # The choice holds for this project: the next save does not ask again.
    window.text_panel.set_text("again")
    assert window.save() and len(prompter.chosen) == 1
    assert raw_rows(path)["doc:canvas"] == b'{"layers":"x"}'


def test_save_to_a_new_file_leaves_every_stored_row_of_the_damaged_original(make_window: Any, tmp_path: Path) -> None:
    path = tmp_path / "x.studio"
    ids = _saved_project(make_window, path)
    sql(path, ("UPDATE documents SET data = CAST(? AS TEXT) WHERE name = 'canvas'", (b'{"layers": [\xff\xfe',)))
    before = raw_rows(path)
    copy = tmp_path / "rescued.studio"
    prompter = QuietPrompter(actions=[SAVE_NEW_FILE], paths=[copy])
    window = make_window(prompter=prompter, project=path)
    assert "not valid UTF-8" in prompter.warnings[0][1]
    window.canvas.add_image(png_bytes(), name="new art")  # its blob is committed at once (an addition)
    assert window.save()
    assert window.session.path == copy and not window.session.dirty
    after = raw_rows(path)
    assert {key: after.get(key) for key in before} == before  # every stored row as it was
    with ProjectStore.open(copy, readonly=True) as store:
        health = store.check()
        assert health.ok
        assert [layer["name"] for layer in health.canvas["layers"]] == ["new art"]
        assert health.timeline == ids["timeline"] and health.text == "# Notes\nkeep me"
        assert [node["id"] for node in store.nodes()] == [ids["node"]]


def test_cancelling_the_damaged_save_question_writes_nothing(make_window: Any, tmp_path: Path) -> None:
    path = tmp_path / "x.studio"
    _saved_project(make_window, path)
    sql(path, ("UPDATE documents SET data = ? WHERE name = 'timeline'", ('{"tracks": 3}',)))
    prompter = QuietPrompter(actions=["cancel"])
    window = make_window(prompter=prompter, project=path)
    before = _sha(path)
    window.text_panel.set_text("changed")
    assert not window.save()
    assert _sha(path) == before and window.session.dirty


def test_a_blob_that_fails_its_hash_is_named_and_its_layer_is_kept_in_the_file(make_window: Any, tmp_path: Path) -> None:
    path = tmp_path / "x.studio"
    ids = _saved_project(make_window, path)
    sql(path, ("UPDATE blobs SET data = ? WHERE id = ?", (b"not the image any more", ids["blob"])))
    canvas_before = raw_rows(path)["doc:canvas"]
    prompter = QuietPrompter(actions=[SAVE_INTACT])
    window = make_window(prompter=prompter, project=path)
    text = prompter.warnings[0][1]
    assert "The canvas and the artefacts in x.studio are damaged; the timeline, history and text are intact" in text
    assert ids["blob"][:12] in text
    assert not window.canvas.layers  # the damaged image is not shown…
    window.text_panel.set_text("edited")
    assert window.save()
    assert raw_rows(path)["doc:canvas"] == canvas_before  # …and its layer is not dropped from the file


@pytest.mark.parametrize("case", sorted(PART_DAMAGE))
def test_every_damaged_part_in_the_corpus_opens_with_a_message_and_no_traceback(make_window: Any, tmp_path: Path, case: str) -> None:
    path = tmp_path / "x.studio"
    good = make_good_project(path)
    damage, expected = PART_DAMAGE[case]
    damage(path, good)
    prompter = QuietPrompter(actions=[SAVE_INTACT])
    window = make_window(prompter=prompter)
    before = raw_rows(path)
    assert window.open_project(path), prompter.errors
    assert prompter.warnings and prompter.warnings[0][0] == DAMAGED_TITLE
    for part in expected:
        assert f"the {part}" in prompter.warnings[0][1].lower()
    window.text_panel.set_text(window.text_panel.text() + " more")
    window.save()  # asks, or (a missing table) ends in the "Cannot save project" dialog
    assert not prompter.errors or prompter.errors[-1][0] == CANNOT_SAVE
    after = raw_rows(path)
    for key, value in before.items():
        name = key.split(":", 1)[1]
        part = {"canvas": "canvas", "timeline": "timeline", "text_panel": "text"}.get(name, "")
        if key.startswith(("node:", "blob:")) or part in expected:
            assert after.get(key) == value, key
        elif part:
            assert len(after[key]) >= len(value), key  # an intact part never shrinks


# --------------------------------------------------------------------------- files refused at once


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail (instead of hanging the suite) if opening blocks."""

    def hung(*_args: Any) -> None:
        raise TimeoutError("opening the project blocked")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _assert_refused(window: Any, prompter: QuietPrompter, path: Path, words: str) -> None:
    before = fingerprint(path)
    current = window.session.path
    assert not window.open_project(path)
    title, text, _details = prompter.errors[-1]
    assert title == CANNOT_OPEN and str(path) in text and words in text
    assert fingerprint(path) == before
    assert window.session.path == current  # the open project stays open


def test_a_fifo_named_x_studio_is_refused_at_once_and_never_freezes_the_window(make_window: Any, tmp_path: Path, alarm: None) -> None:
    path = tmp_path / "x.studio"
    os.mkfifo(path)
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)
    _assert_refused(window, prompter, path, "named pipe (FIFO)")
    # Also as the project given at start-up, and from the recent-files menu.
    again = QuietPrompter()
    started = make_window(prompter=again, project=path)
    assert again.errors[-1][0] == CANNOT_OPEN and started.session.store is not None


def test_a_folder_and_a_device_named_x_studio_are_refused(make_window: Any, tmp_path: Path, alarm: None) -> None:
    folder = tmp_path / "folder.studio"
    folder.mkdir()
    device = tmp_path / "device.studio"
    os.symlink("/dev/zero", device)
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)
    _assert_refused(window, prompter, folder, "folder")
    _assert_refused(window, prompter, device, "a device")


@pytest.mark.parametrize("case", sorted(REFUSED) + ["truncated"])
def test_files_that_cannot_be_opened_end_in_the_cannot_open_dialog(make_window: Any, tmp_path: Path, case: str) -> None:
    path = tmp_path / "x.studio"
    if case == "truncated":
        make_good_project(path)
        sql(path, ("INSERT INTO blobs(id, kind, mime, size, data, created) VALUES ('big', 'x', 'x', 1, ?, 0)", (os.urandom(200_000),)))
        path.write_bytes(path.read_bytes()[:60_000])
        words = "damaged"
    else:
        build, words = REFUSED[case]
        build(path)
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)
    _assert_refused(window, prompter, path, words)


def test_an_unexpected_failure_on_open_is_a_dialog_with_details_not_a_traceback(
    make_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.studio"
    make_good_project(path)
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)

    def broken(self: Any) -> Any:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(ProjectStore, "check", broken)
    assert not window.open_project(path)
    title, text, details = prompter.errors[-1]
    assert title == CANNOT_OPEN and "UnicodeDecodeError" in text and "Traceback" in details
    assert window.session.store is not None


# --------------------------------------------------------------------------- two writers


@pytest.mark.parametrize("answer", [OVERWRITE, RELOAD, SAVE_COPY, "cancel"])
def test_a_save_over_another_windows_newer_save_asks(make_window: Any, tmp_path: Path, answer: str) -> None:
    path = tmp_path / "shared.studio"
    _saved_project(make_window, path)
    other_home = tmp_path / "other-home"
    other_home.mkdir()
    first = make_window(project=path)
    copy = tmp_path / "mine.studio"
    prompter = QuietPrompter(actions=[answer], paths=[copy])
    second = make_window(prompter=prompter, project=path, home=other_home)

    first.canvas.add_image(png_bytes(colour=(0, 200, 0)), name="from first")
    assert first.save()
    second.canvas.add_image(png_bytes(colour=(0, 0, 200)), name="from second")
    saved = second.save()
    title, question = prompter.chosen[0]
    assert title == CONFLICT_TITLE and "revision" in question and "shared.studio" in question

    def names(project: Path) -> list[str]:
        with ProjectStore.open(project, readonly=True) as store:
            return [layer["name"] for layer in store.load_canvas()["layers"]]

    if answer == OVERWRITE:
        assert saved and names(path) == ["art", "from second"]
    elif answer == RELOAD:
        assert not saved and not second.session.dirty
        assert [layer.name for layer in second.canvas.layers.values()] == ["art", "from first"]
        assert names(path) == ["art", "from first"]
    elif answer == SAVE_COPY:
        assert saved and second.session.path == copy
        assert names(path) == ["art", "from first"] and names(copy) == ["art", "from second"]
    else:
        assert not saved and second.session.dirty and names(path) == ["art", "from first"]


# --------------------------------------------------------------------------- full and read-only disks


def _mount_tmpfs(folder: Path, size: str = "2m") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if os.system(f"mount -t tmpfs -o size={size} tmpfs '{folder}' 2>/dev/null") != 0:
        pytest.skip("mounting a small tmpfs is not permitted here (needs root or CAP_SYS_ADMIN)")


def _fill(folder: Path, leave: int = 0) -> Path:
    info = os.statvfs(folder)
    filler = folder / "filler.bin"
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, info.f_bavail * info.f_frsize - leave))
    return filler


@pytest.fixture
def small_recovery(studio_home: Path) -> Iterator[Path]:
    folder = studio_home / "recovery"
    _mount_tmpfs(folder)
    yield folder
    os.system(f"umount -l '{folder}'")


def test_autosave_on_a_full_disk_shows_in_the_status_bar_and_keeps_the_changes(
    make_window: Any, small_recovery: Path, tmp_path: Path, qtbot: Any
) -> None:
    window = make_window()
    assert window.save_as(tmp_path / "a.studio")
    filler = _fill(small_recovery)
    window.canvas.add_image(png_bytes(), name="unsaved")
    with qtbot.waitSignal(window.session.autosave_failed, timeout=10000) as failed:
        window.session.autosave_now()
    message = failed.args[0]
    assert "Autosave failed" in message and str(small_recovery) in message and "is full" in message
    assert window.statusBar().currentMessage() == message
    assert window.session.dirty and [layer.name for layer in window.canvas.layers.values()] == ["unsaved"]
    assert not list(small_recovery.glob("*.studio-autosave")) and not list(small_recovery.glob(".*.tmp"))
    filler.unlink()
    assert window.session.autosave_now() is not None and window.session.autosave_error == ""
    assert "Autosave works again" in window.statusBar().currentMessage()


def test_an_injected_enospc_in_autosave_reaches_the_status_bar(make_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    window = make_window()
    assert window.save_as(tmp_path / "a.studio")
    window.canvas.add_image(png_bytes(), name="unsaved")
    real_replace = os.replace

    def full(src: Any, dst: Any) -> None:
        if str(dst).endswith(".studio-autosave"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full)
    assert window.session.autosave_now() is None
    assert "Autosave failed" in window.statusBar().currentMessage() and "Free at least" in window.statusBar().currentMessage()
    assert window.session.dirty


def test_save_on_a_full_disk_ends_in_the_cannot_save_dialog_naming_the_folder(make_window: Any, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    _mount_tmpfs(disk)
    try:
        path = disk / "x.studio"
        _saved_project(make_window, path)
        prompter = QuietPrompter()
        window = make_window(prompter=prompter, project=path)
        before = raw_rows(path)
        _fill(disk, leave=4096)
        window.text_panel.set_text("a line of notes\n" * 20_000)  # ~320 KB: more than is left
        assert not window.save()
        title, text, _details = prompter.errors[-1]
        assert title == CANNOT_SAVE and str(disk) in text and "is full" in text and "Free at least" in text
        assert window.session.dirty
        (disk / "filler.bin").unlink()
        window.session.close()
        assert raw_rows(path) == before
    finally:
        os.system(f"umount -l '{disk}'")


def test_a_project_on_a_read_only_disk_opens_read_only_and_a_drop_is_refused_cleanly(make_window: Any, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    _mount_tmpfs(disk)
    try:
        path = disk / "x.studio"
        ids = _saved_project(make_window, path)
        assert os.system(f"mount -o remount,ro '{disk}'") == 0
        elsewhere = tmp_path / "elsewhere.studio"
        prompter = QuietPrompter(actions=[SAVE_NEW_FILE], paths=[elsewhere])
        window = make_window(prompter=prompter, project=path)
        assert window.session.path == path and window.session.readonly
        assert prompter.warnings[-1][0] == READONLY_TITLE and str(disk) in prompter.warnings[-1][1]
        assert window.timeline.doc.find_clip(ids["clip"])
        image = tmp_path / "dropped.png"
        image.write_bytes(png_bytes())
        window.import_images([str(image)])  # what a drop on the canvas does
        assert prompter.errors[-1][0] == CANNOT_SAVE and "read-only" in prompter.errors[-1][1]
        job = window.tracker.new_job("studio.patterns", "Patterns", "image", {"width": 64}, 1)
        assert window.land(job, [({"kind": "image", "mime": "image/png", "meta": {}}, png_bytes())]) is None
        assert prompter.errors[-1][0] == CANNOT_SAVE and "Patterns" in prompter.errors[-1][1]
        window.text_panel.set_text("edited on a read-only disk")
        assert window.save()  # asks, then saves to another folder
        assert window.session.path == elsewhere and not window.session.readonly
        assert ProjectStore.open(elsewhere, readonly=True).load_text() == "edited on a read-only disk"
    finally:
        os.system(f"mount -o remount,rw '{disk}' 2>/dev/null; umount -l '{disk}'")


# --------------------------------------------------------------------------- the real dialogs


def _click_when_shown(object_name: str, qtbot: Any) -> list[str]:
    """Click the button ``object_name`` of the next modal message box (a real exec loop)."""
    seen: list[str] = []

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        seen.append(box.text())
        box.findChild(QPushButton, object_name).click()

    QTimer.singleShot(0, click)
    return seen


@pytest.mark.parametrize("key", [key for key, _label in DAMAGED_SAVE_CHOICES])
def test_the_real_choice_dialog_returns_the_button_clicked(qtbot: Any, key: str) -> None:
    seen = _click_when_shown(f"choice_{key}", qtbot)
    answer = dialogs.Prompter().choose_action(None, DAMAGED_TITLE, "the canvas is damaged", DAMAGED_SAVE_CHOICES)
    assert answer == key and seen == ["the canvas is damaged"]


def test_escape_on_the_conflict_dialog_means_cancel(qtbot: Any) -> None:
    def escape() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, escape)
            return
        box.reject()

    QTimer.singleShot(0, escape)
    assert dialogs.Prompter().choose_action(None, CONFLICT_TITLE, "saved elsewhere", dialogs.CONFLICT_CHOICES) == "cancel"


def test_the_window_asks_through_the_real_dialog(make_window: Any, tmp_path: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole way through Qt: the damaged-save question is a real QMessageBox whose button is clicked."""
    path = tmp_path / "x.studio"
    _saved_project(make_window, path)
    sql(path, ("UPDATE documents SET data = ? WHERE name = 'canvas'", ('{"layers":"x"}',)))

    class RealChoice(QuietPrompter):
        choose_action = dialogs.Prompter.choose_action  # the real dialog; everything else stays quiet

    prompter = RealChoice()
    window = make_window(prompter=prompter, project=path)
    window.text_panel.set_text("through the dialog")
    seen = _click_when_shown(f"choice_{SAVE_INTACT}", qtbot)
    assert window.save()
    assert "canvas in x.studio is damaged" in seen[0].lower()
    assert raw_rows(path)["doc:canvas"] == b'{"layers":"x"}'
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM kv WHERE key = 'text_panel'").fetchone()[0] == '"through the dialog"'
    conn.close()


def test_a_read_only_recovery_folder_at_start_is_a_dialog_not_a_traceback(make_window: Any, studio_home: Path) -> None:
    folder = studio_home / "recovery"
    _mount_tmpfs(folder)
    try:
        assert os.system(f"mount -o remount,ro '{folder}'") == 0
        prompter = QuietPrompter()
        window = make_window(prompter=prompter)
        title, text, _details = prompter.errors[-1]
        assert title == CANNOT_SAVE and str(folder) in text and "read-only" in text
        assert window.session.store is None
        window.new_project()  # asks again, still no traceback
        assert prompter.errors[-1][0] == CANNOT_SAVE
    finally:
        os.system(f"umount -l '{folder}'")
