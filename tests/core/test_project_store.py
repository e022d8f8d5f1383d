"""The .studio project file: SQLite as an application file format."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from studio.core.artifacts import Artifact
from studio.core.errors import ProjectError
from studio.core.project_store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    ProjectStore,
    autosave_path_for,
    list_recoverable,
    read_autosave,
)

CANVAS = {"size": [1024, 768], "layers": [{"id": "l1", "name": "art", "blob": "b" * 64, "x": 10, "y": 20, "opacity": 0.5}]}
TIMELINE = {
    "tempo": 96,
    "tracks": [
        {"id": "t1", "name": "lead", "kind": "melody", "clips": [{"id": "c1", "start": 0, "length": 4, "melody": {"notes": [[60, 0, 1]]}}]}
    ],
}


def _node(node_id: str, parents=(), generator: str = "studio.patterns", **extra):
    return {"id": node_id, "parents": list(parents), "generator": generator, "params": {"seed": 1}, **extra}


def _fingerprint(path) -> tuple[str, list[str]]:
    """The file's bytes (hashed) and the names beside it: both must survive a refusal."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), sorted(p.name for p in path.parent.iterdir())


def test_everything_written_comes_back_after_reopening(tmp_path):
    path = tmp_path / "song.studio"
    with ProjectStore.create(path) as store:
        blob = store.put_blob(b"\x89PNG fake", "image", "image/png", {"seed": 3})
        assert store.put_blob(b"\x89PNG fake", "image", "image/png") == blob  # content-addressed
        store.put_artifact(Artifact(kind="text", mime="text/plain", data=b"hello"))
        store.add_node(_node("a", outputs=[blob]))
        store.add_node(_node("b", parents=["a"], generator="studio.melody"))
        store.save_canvas(CANVAS)
        store.save_timeline(TIMELINE)
        store.set_setting("view", {"zoom": 2})

    with ProjectStore.open(path) as store:
        assert store.get_blob(blob) == b"\x89PNG fake"
        assert store.has_blob(blob) and not store.has_blob("0" * 64)
        assert store.blob_info(blob) == {"id": blob, "kind": "image", "mime": "image/png", "size": 9, "meta": {"seed": 3}}
        assert store.get_artifact(hashlib.sha256(b"hello").hexdigest()).data == b"hello"
        assert store.blob_count() == 2
        assert [n["id"] for n in store.nodes()] == ["a", "b"]
        assert store.get_node("a")["outputs"] == [blob]
        assert store.child_ids("a") == ["b"]
        assert [n["id"] for n in store.nodes(generator="studio.melody")] == ["b"]
        assert store.load_canvas() == CANVAS
        assert store.load_timeline() == TIMELINE
        assert store.get_setting("view") == {"zoom": 2}
        assert store.get_setting("missing", 5) == 5
        assert store.integrity_problems() == []


def test_new_project_has_no_documents_yet(tmp_path):
    with ProjectStore.create(tmp_path / "new.studio") as store:
        assert store.load_canvas() is None and store.load_timeline() is None
        assert store.nodes() == [] and store.node_count() == 0


def test_file_is_marked_as_ours_and_journals_with_wal(tmp_path):
    path = tmp_path / "p.studio"
    ProjectStore.create(path).close()
    header = path.read_bytes()[:100]
    assert int.from_bytes(header[68:72], "big") == APPLICATION_ID
    assert int.from_bytes(header[60:64], "big") == SCHEMA_VERSION
    assert header[18:20] == b"\x02\x02"  # WAL read/write versions
    assert not (tmp_path / "p.studio-wal").exists()  # a clean close checkpoints


def test_update_and_delete_nodes(tmp_path):
    with ProjectStore.create(tmp_path / "p.studio") as store:
        store.add_node(_node("a"))
        store.add_node(_node("b", parents=["a"]))
        store.update_node(_node("b", parents=[], starred=True, label="keeper"))
        assert store.get_node("b")["label"] == "keeper"
        assert store.child_ids("a") == []
        assert [n["id"] for n in store.nodes(starred=True)] == ["b"]
        gone = store.delete_node("a")
        assert gone["node"]["id"] == "a" and store.get_node("a") is None
        with pytest.raises(KeyError):
            store.delete_node("a")
        with pytest.raises(KeyError):
            store.update_node(_node("zzz"))
        with pytest.raises(ProjectError, match="already exists"):
            store.add_node(_node("b"))


def test_a_failed_transaction_leaves_nothing_behind(tmp_path):
    with ProjectStore.create(tmp_path / "p.studio") as store:
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.add_node(_node("a"))
                store.put_blob(b"x", "text", "text/plain")
                raise RuntimeError("job failed half way")
        assert store.node_count() == 0 and store.blob_count() == 0

        with store.transaction():
            store.add_node(_node("kept"))
            with pytest.raises(ProjectError):
                with store.transaction():  # a savepoint: only this part is undone
                    store.add_node(_node("inner"))
                    store.add_node(_node("kept"))  # duplicate id
        assert [n["id"] for n in store.nodes()] == ["kept"]


def test_save_as_continues_in_the_copy_and_leaves_the_original(tmp_path):
    original = tmp_path / "a.studio"
    store = ProjectStore.create(original)
    blob = store.put_blob(b"data", "text", "text/plain")
    store.add_node(_node("n1", outputs=[blob]))
    store.save_canvas(CANVAS)

    copy_path = tmp_path / "sub" / "b.studio"
    assert store.save_as(copy_path) == copy_path
    assert store.path == copy_path
    store.add_node(_node("n2", parents=["n1"]))
    store.close()

    with ProjectStore.open(copy_path) as copy:
        assert [n["id"] for n in copy.nodes()] == ["n1", "n2"]
        assert copy.get_blob(blob) == b"data"
        assert copy.load_canvas() == CANVAS
        assert copy.integrity_problems() == []
    with ProjectStore.open(original) as old:
        assert [n["id"] for n in old.nodes()] == ["n1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.studio", "sub"]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["b.studio"]


def test_save_copy_keeps_editing_the_original(tmp_path):
    with ProjectStore.create(tmp_path / "a.studio") as store:
        store.add_node(_node("n1"))
        store.save_copy(tmp_path / "backup.studio")
        store.add_node(_node("n2"))
        assert store.path == tmp_path / "a.studio"
    with ProjectStore.open(tmp_path / "backup.studio") as backup:
        assert [n["id"] for n in backup.nodes()] == ["n1"]


def test_create_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "p.studio"
    with ProjectStore.create(path) as store:
        store.add_node(_node("old"))
    with pytest.raises(ProjectError, match="already exists"):
        ProjectStore.create(path)
    with ProjectStore.create(path, overwrite=True) as store:
        assert store.node_count() == 0


def test_refuses_a_foreign_sqlite_database_and_leaves_it_untouched(tmp_path):
    path = tmp_path / "notes.studio"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('shopping list')")
    conn.commit()
    conn.close()
    before = _fingerprint(path)

    with pytest.raises(ProjectError, match=r"notes\.studio: not a Studio project \(an SQLite database of another application"):
        ProjectStore.open(path)
    assert _fingerprint(path) == before


def test_refuses_a_text_file_named_studio_and_leaves_it_untouched(tmp_path):
    path = tmp_path / "readme.studio"
    path.write_text("these are my notes, not a project\n" * 10)
    before = _fingerprint(path)

    with pytest.raises(ProjectError, match=r"readme\.studio: not a Studio project \(not an SQLite database\)"):
        ProjectStore.open(path)
    assert _fingerprint(path) == before


def test_refuses_an_empty_file_and_a_missing_one(tmp_path):
    (tmp_path / "empty.studio").write_bytes(b"")
    with pytest.raises(ProjectError, match="not an SQLite database"):
        ProjectStore.open(tmp_path / "empty.studio")
    assert (tmp_path / "empty.studio").read_bytes() == b""
    with pytest.raises(ProjectError, match="no such project file"):
        ProjectStore.open(tmp_path / "missing.studio")


def test_refuses_a_project_from_a_newer_studio_and_leaves_it_untouched(tmp_path):
    path = tmp_path / "future.studio"
    ProjectStore.create(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = _fingerprint(path)

    with pytest.raises(ProjectError, match=r"future\.studio: written by a newer Studio \(project format 2"):
        ProjectStore.open(path)
    assert _fingerprint(path) == before


def test_read_only_open_refuses_writes_and_leaves_no_side_files(tmp_path):
    path = tmp_path / "p.studio"
    with ProjectStore.create(path) as store:
        store.add_node(_node("a"))
    before = _fingerprint(path)
    with ProjectStore.open(path, readonly=True) as store:
        assert store.node_count() == 1
        with pytest.raises(ProjectError, match="read-only"):
            store.add_node(_node("b"))
    assert _fingerprint(path) == before


def test_closed_store_says_so(tmp_path):
    store = ProjectStore.create(tmp_path / "p.studio")
    store.close()
    with pytest.raises(ProjectError, match="closed"):
        store.nodes()


KILLED_WRITER = textwrap.dedent(
    """
    import os, sys
    from studio.core.project_store import ProjectStore

    store = ProjectStore.create(sys.argv[1])
    count = 0
    while True:
        count += 1
        with store.transaction():
            parents = [f"n{count - 1}"] if count > 1 else []
            store.add_node({"id": f"n{count}", "parents": parents, "generator": "t", "params": {"pad": "x" * 3000}})
            store.put_blob(os.urandom(20000), "image", "image/png")
        print(count, flush=True)
    """
)


def test_kill_9_during_writes_leaves_a_consistent_project_with_every_printed_commit(tmp_path):
    path = tmp_path / "killed.studio"
    process = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    last_printed = 0
    deadline = time.monotonic() + 120
    try:
        # Enough commits that the WAL auto-checkpoints (≈4 MB) while we are still writing.
        while last_printed < 250 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            last_printed = int(line)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    last_printed = max([last_printed, *(int(line) for line in process.stdout.read().split())])
    assert process.returncode == -signal.SIGKILL, process.stderr.read()
    assert last_printed >= 250

    with ProjectStore.open(path) as store:
        assert store.integrity_problems() == []
        count = store.node_count()
        assert count >= last_printed
        assert store.blob_count() == count  # node and blob were committed together or not at all
        assert [n["id"] for n in store.nodes()] == [f"n{i}" for i in range(1, count + 1)]


# --------------------------------------------------------------------------- autosave


def test_autosave_after_a_crash_is_offered_and_restores_the_documents(tmp_path):
    path = tmp_path / "song.studio"
    store = ProjectStore.create(path)
    store.save_canvas({"layers": []})
    written = store.write_autosave(canvas=CANVAS, timeline=TIMELINE)
    assert written == autosave_path_for(path) == tmp_path / "song.studio-autosave"
    store.close()  # the window "crashes": nothing discards the autosave

    with ProjectStore.open(path) as store:
        pending = store.pending_autosave()
        assert pending is not None
        assert pending.canvas == CANVAS and pending.timeline == TIMELINE
        assert pending.project_path == path.resolve()
        assert store.load_canvas() == {"layers": []}  # nothing applied until asked
        store.apply_autosave(pending)
        assert store.load_canvas() == CANVAS and store.load_timeline() == TIMELINE
        assert not written.exists()
        assert store.pending_autosave() is None


def test_autosave_is_stale_once_the_documents_are_saved(tmp_path):
    with ProjectStore.create(tmp_path / "p.studio") as store:
        store.write_autosave(canvas=CANVAS)
        store.save_canvas({"layers": [], "saved": "later"})
        assert store.pending_autosave() is None
        store.write_autosave(canvas=CANVAS)
        assert store.pending_autosave() is not None
        store.discard_autosave()
        assert store.pending_autosave() is None


def test_autosave_of_another_project_with_the_same_name_is_ignored(tmp_path):
    first = ProjectStore.create(tmp_path / "p.studio")
    first.write_autosave(canvas=CANVAS)
    first.close()
    with ProjectStore.create(tmp_path / "p.studio", overwrite=True) as second:
        assert second.pending_autosave() is None


def test_autosaves_in_a_recovery_folder_do_not_collide(tmp_path):
    recovery = tmp_path / "recovery"
    one = autosave_path_for(tmp_path / "a" / "song.studio", recovery)
    two = autosave_path_for(tmp_path / "b" / "song.studio", recovery)
    assert one != two
    assert one.parent == two.parent == recovery
    assert one.name.startswith("song-") and one.name.endswith(".studio-autosave")


def test_autosave_file_is_a_checked_sqlite_file(tmp_path):
    with ProjectStore.create(tmp_path / "p.studio", recovery_dir=tmp_path / "rec") as store:
        path = store.write_autosave(timeline=TIMELINE)
    assert path.parent == tmp_path / "rec"
    autosave = read_autosave(path)
    assert autosave.timeline == TIMELINE and autosave.canvas is None
    with pytest.raises(ProjectError, match="not an autosave"):
        read_autosave(tmp_path / "p.studio")


def test_untitled_project_persists_in_the_recovery_folder_until_saved_as(tmp_path):
    recovery = tmp_path / "recovery"
    store = ProjectStore.create_untitled(recovery)
    assert store.is_untitled and store.path.parent == recovery
    store.add_node(_node("first"))
    store.write_autosave(canvas=CANVAS)
    untitled_path = store.path
    store.close()  # crash

    assert set(list_recoverable(recovery)) == {untitled_path, autosave_path_for(untitled_path, recovery)}
    store = ProjectStore.open(untitled_path, recovery_dir=recovery)
    assert [n["id"] for n in store.nodes()] == ["first"]
    assert store.pending_autosave().canvas == CANVAS

    target = tmp_path / "music" / "tune.studio"
    store.save_as(target)
    assert not store.is_untitled
    store.add_node(_node("second", parents=["first"]))
    store.close()
    assert list_recoverable(recovery) == []
    with ProjectStore.open(target) as saved:
        assert [n["id"] for n in saved.nodes()] == ["first", "second"]


def test_discarding_an_untitled_project_removes_its_files(tmp_path):
    store = ProjectStore.create_untitled(tmp_path / "rec")
    store.write_autosave(canvas=CANVAS)
    store.discard()
    assert list_recoverable(tmp_path / "rec") == []
    with ProjectStore.create(tmp_path / "titled.studio") as titled:
        with pytest.raises(ProjectError, match="only an untitled project"):
            titled.discard()


def test_a_truncated_project_is_refused_as_damaged(tmp_path):
    path = tmp_path / "p.studio"
    with ProjectStore.create(path) as store:
        for _ in range(20):
            store.put_blob(os.urandom(8000), "image", "image/png")
    data = path.read_bytes()
    cut = tmp_path / "cut.studio"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ProjectError, match=r"cut\.studio: the project file is damaged"):
        ProjectStore.open(cut)


def test_a_damaged_artefact_is_caught_by_its_hash(tmp_path):
    path = tmp_path / "p.studio"
    with ProjectStore.create(path) as store:
        blob = store.put_blob(b"A" * 50_000, "image", "image/png")
    data = bytearray(path.read_bytes())
    start = data.index(b"A" * 1000) + 10_000
    data[start : start + 10] = b"B" * 10
    path.write_bytes(bytes(data))
    with ProjectStore.open(path) as store:
        with pytest.raises(ProjectError, match=f"artefact {blob[:12]} is damaged"):
            store.get_blob(blob)
