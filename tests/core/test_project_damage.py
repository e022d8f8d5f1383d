"""Damaged project files: each part checked on open, damage named, intact data never lost.

A corpus of damaged files is built here from one good project: bad JSON, bad UTF-8, wrong
types, a blob that fails its hash, missing tables, wrong schema versions, zero bytes, not
SQLite, a FIFO, a folder, a device. For each: a clear ``ProjectError`` or a ``check()``
that names the damaged part, and the intact parts survive any save.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from studio.core.errors import ProjectError
from studio.core.project_documents import DocumentError, validate_document
from studio.core.project_store import (
    TEXT_KEY,
    ProjectConflictError,
    ProjectDamagedError,
    ProjectStore,
    ProjectWriteError,
    check_project_header,
)
from tests.core.project_corpus import (
    PART_DAMAGE,
    REFUSED,
    make_good_project,
    raw_rows,
    sql,
)
from tests.core.project_corpus import fingerprint as _fingerprint


@pytest.mark.parametrize("case", sorted(PART_DAMAGE))
def test_each_damaged_part_is_named_and_the_intact_parts_load_whole(tmp_path: Path, case: str) -> None:
    path = tmp_path / "x.studio"
    good = make_good_project(path)
    damage, expected = PART_DAMAGE[case]
    damage(path, good)

    with ProjectStore.open(path) as store:
        health = store.check()
        assert set(health.damaged) == expected, health.details()
        summary = health.summary()
        for part in expected:
            assert f"the {part}" in summary.split(" in x.studio")[0]
        assert "in x.studio" in summary and ("are intact" in summary or "is intact" in summary)
        for part in set(health.intact):
            assert part in summary.split("damaged;", 1)[1]
        # The intact parts come back exactly as saved.
        if "canvas" not in expected:
            assert health.canvas == good["canvas"]
        if "timeline" not in expected:
            assert health.timeline == good["timeline"]
        if "text" not in expected:
            assert health.text == good["text"]
        if "history" not in expected:
            assert [node["id"] for node in store.nodes()] == ["n1", "n2"]
        # A damaged document part is protected: writing it back is refused, nothing changes.
        before = raw_rows(path)
        damaged_docs = expected & {"canvas", "timeline", "text"}
        if damaged_docs:
            with pytest.raises(ProjectDamagedError) as refused:
                store.save_documents({"canvas": {"layers": []}, "timeline": None, "text": ""}, base_revision=store.revision)
            assert set(refused.value.parts) == damaged_docs
            assert raw_rows(path) == before
        # Saving only the intact parts keeps every damaged byte and shrinks nothing intact.
        intact_docs = {
            name: value
            for name, value in (("canvas", health.canvas), ("timeline", health.timeline), ("text", health.text))
            if name not in expected
        }
        if intact_docs and case != "documents table missing" and case != "kv table missing":
            store.save_documents(intact_docs, base_revision=store.revision)
            after = raw_rows(path)
            for key, value in before.items():
                if key.startswith(("node:", "blob:")) or key.removeprefix("doc:").removeprefix("kv:") in {
                    "canvas",
                    "timeline",
                    TEXT_KEY,
                } - {n if n != "text" else TEXT_KEY for n in intact_docs}:
                    assert after[key] == value, key  # damaged (and untouched) rows: byte for byte
                else:
                    assert len(after[key]) >= len(value) * 0.9, key


def test_a_history_row_that_cannot_be_read_is_skipped_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "x.studio"
    make_good_project(path)
    sql(path, ("UPDATE nodes SET data = ? WHERE id = 'n2'", ("{not json",)))
    with ProjectStore.open(path) as store:
        assert [node["id"] for node in store.nodes()] == ["n1"]
        assert store.get_node("n2") is None
        store.add_node({"id": "n3", "parents": ["n1"]})
    assert raw_rows(path)["node:n2"] == b"{not json"


def test_load_canvas_of_a_damaged_document_raises_a_project_error_not_a_decoder_error(tmp_path: Path) -> None:
    path = tmp_path / "x.studio"
    make_good_project(path)
    sql(path, ("UPDATE documents SET data = CAST(? AS TEXT) WHERE name = 'canvas'", (b"\xff\xfe\xfd",)))
    sql(path, ("UPDATE documents SET data = ? WHERE name = 'timeline'", ("{oops",)))
    with ProjectStore.open(path, readonly=True) as store:
        with pytest.raises(ProjectError, match="the canvas in x.studio is damaged .*UTF-8"):
            store.load_canvas()
        with pytest.raises(ProjectError, match="the timeline in x.studio is damaged .*not valid JSON"):
            store.load_timeline()


def test_schema_validation_names_the_field() -> None:
    with pytest.raises(DocumentError, match="layers: should be a list"):
        validate_document("canvas", {"layers": "x"})
    with pytest.raises(DocumentError, match=r"layers\.0\.blob"):
        validate_document("canvas", {"layers": [{"id": "a"}]})
    with pytest.raises(DocumentError, match="tracks"):
        validate_document("timeline", {"tracks": "x"})
    # Unknown keys from a newer studio are fine; None is a document never saved.
    assert validate_document("canvas", {"layers": [], "future": {"x": 1}}) == {"layers": [], "future": {"x": 1}}
    assert validate_document("timeline", None) is None


# --------------------------------------------------------------------------- refused files


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_files_that_are_not_openable_projects_are_refused_untouched(tmp_path: Path, case: str) -> None:
    path = tmp_path / "x.studio"
    build, words = REFUSED[case]
    build(path)
    before = _fingerprint(path)
    with pytest.raises(ProjectError, match=words) as refused:
        ProjectStore.open(path)
    assert str(path) in str(refused.value)
    assert _fingerprint(path) == before


def test_a_truncated_project_is_refused_or_reported_never_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "x.studio"
    make_good_project(path)
    sql(path, ("INSERT INTO blobs(id, kind, mime, size, data, created) VALUES ('big', 'x', 'x', 1, ?, 0)", (os.urandom(200_000),)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = _fingerprint(path)
    try:
        store = ProjectStore.open(path, readonly=True)
    except ProjectError:
        pass
    else:
        with store:
            problems = store.integrity_problems()
            health = store.check()
            assert problems or not health.ok
    assert _fingerprint(path) == before


def _open_in_thread(path: Path) -> BaseException | None:
    result: list[BaseException | None] = []

    def run() -> None:
        try:
            check_project_header(path)
            result.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), f"opening {path} hung"
    return result[0]


def test_a_fifo_named_x_studio_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "x.studio"
    os.mkfifo(path)
    error = _open_in_thread(path)
    assert isinstance(error, ProjectError) and "named pipe (FIFO)" in str(error)
    with pytest.raises(ProjectError, match="FIFO"):
        ProjectStore.open(path)


def test_a_folder_and_a_device_named_x_studio_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "folder.studio"
    folder.mkdir()
    with pytest.raises(ProjectError, match="folder"):
        ProjectStore.open(folder)
    device = tmp_path / "device.studio"
    os.symlink("/dev/null", device)
    with pytest.raises(ProjectError, match="a device"):
        ProjectStore.open(device)


# --------------------------------------------------------------------------- two writers


def test_a_save_over_someone_elses_newer_save_is_a_conflict_with_both_revisions(tmp_path: Path) -> None:
    path = tmp_path / "x.studio"
    make_good_project(path)
    first, second = ProjectStore.open(path), ProjectStore.open(path)
    try:
        base_first, base_second = first.revision, second.revision
        assert base_first == base_second
        theirs = {"layers": [], "by": "first"}
        new_revision = first.save_documents({"canvas": theirs}, base_revision=base_first)
        assert new_revision == base_first + 1
        with pytest.raises(ProjectConflictError) as conflict:
            second.save_documents({"canvas": {"layers": [], "by": "second"}}, base_revision=base_second)
        assert (conflict.value.base_revision, conflict.value.current_revision) == (base_second, new_revision)
        assert second.load_canvas() == theirs  # nothing of the second save landed
        # Overwrite is the user's explicit choice.
        second.save_documents({"canvas": {"layers": [], "by": "second"}}, base_revision=base_second, force=True)
        assert first.load_canvas()["by"] == "second"
    finally:
        first.close()
        second.close()


# --------------------------------------------------------------------------- full and read-only disks


def test_an_injected_enospc_during_autosave_is_a_write_error_naming_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.studio"
    make_good_project(path)
    recovery = tmp_path / "recovery"
    with ProjectStore.open(path, recovery_dir=recovery) as store:
        first = store.write_autosave(canvas={"layers": []}, text="first")

        def full(*args: Any, **kwargs: Any) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "replace", full)
        with pytest.raises(ProjectWriteError) as failed:
            store.write_autosave(canvas={"layers": []}, text="second")
        assert failed.value.reason == "full"
        assert str(recovery.resolve()) in str(failed.value) and "Free at least" in str(failed.value)
        monkeypatch.undo()
        assert [p.name for p in recovery.iterdir()] == [first.name]  # no temporary file left behind


def _mount_tmpfs(folder: Path, size: str = "2m") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    result = os.system(f"mount -t tmpfs -o size={size} tmpfs '{folder}' 2>/dev/null")
    if result != 0:
        pytest.skip("mounting a small tmpfs is not permitted here (needs root or CAP_SYS_ADMIN)")


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "disk"
    _mount_tmpfs(folder)
    yield folder
    os.system(f"umount -l '{folder}'")


def _fill(folder: Path, leave: int) -> None:
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    with open(folder / "filler.bin", "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))


def test_a_save_on_a_full_disk_names_the_folder_and_leaves_the_project_intact(small_disk: Path) -> None:
    path = small_disk / "x.studio"
    good = make_good_project(path)
    with ProjectStore.open(path) as store:
        _fill(small_disk, leave=8 * 1024)  # the disk fills up while the project is open
        base = store.revision
        huge = {"layers": [], "padding": "x" * 3_000_000}
        with pytest.raises(ProjectWriteError) as failed:
            store.save_documents({"canvas": huge, "text": "changed"}, base_revision=base)
        assert failed.value.reason == "full"
        message = str(failed.value)
        assert str(small_disk) in message and "is full" in message and "Free at least" in message
        assert store.revision == base
    (small_disk / "filler.bin").unlink()
    _fill(small_disk, leave=0)
    with pytest.raises(ProjectWriteError, match="is full"):
        ProjectStore.open(path)  # opening for writing on a full disk says why it cannot
    with ProjectStore.open(path, readonly=True) as store:
        assert store.check().ok  # and it still reads
    (small_disk / "filler.bin").unlink()
    with ProjectStore.open(path) as store:
        assert store.integrity_problems() == []
        health = store.check()
        assert health.ok and health.canvas == good["canvas"] and health.text == good["text"]


def test_a_copy_onto_a_full_disk_leaves_no_half_file(small_disk: Path, tmp_path: Path) -> None:
    source = tmp_path / "big.studio"
    make_good_project(source)
    sql(source, ("INSERT INTO blobs(id, kind, mime, size, data, created) VALUES ('big', 'x', 'x', 1, ?, 0)", (os.urandom(3_000_000),)))
    with ProjectStore.open(source) as store, pytest.raises(ProjectWriteError, match="is full"):
        store.save_copy(small_disk / "copy.studio")
    assert sorted(p.name for p in small_disk.iterdir()) == []


def test_a_project_on_a_read_only_disk_opens_read_only_and_a_save_says_so(small_disk: Path) -> None:
    path = small_disk / "x.studio"
    make_good_project(path)
    assert os.system(f"mount -o remount,ro '{small_disk}'") == 0
    try:
        with ProjectStore.open(path, readonly=True) as store:
            assert store.check().ok
        with ProjectStore.open(path) as store:  # a writable open on a read-only disk: writes fail cleanly
            with pytest.raises(ProjectWriteError) as failed:
                store.save_documents({"text": "x"})
            assert failed.value.reason == "readonly" and str(small_disk) in str(failed.value)
    except ProjectError as exc:
        # SQLite may refuse the writable open itself (no -shm can be made): then it says so.
        assert "read-only" in str(exc) or "cannot" in str(exc)
    finally:
        os.system(f"mount -o remount,rw '{small_disk}'")
