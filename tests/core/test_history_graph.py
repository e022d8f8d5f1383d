"""The history graph over the project store: tree, branch, star, filter, delete and undo."""

from __future__ import annotations

import json

import pytest

from studio.core.errors import ProjectError
from studio.core.history import History, HistoryNode
from studio.core.project_store import ProjectStore


@pytest.fixture
def store(tmp_path):
    with ProjectStore.create(tmp_path / "h.studio") as project:
        yield project


@pytest.fixture
def history(store):
    return History(store)


def _root(generator: str = "studio.diffusion", **changes) -> HistoryNode:
    values = dict(
        plugin_id=generator,
        generator=generator,
        plugin_version="1.0.0",
        model_id="tiny-sd",
        model_hash="ab" * 32,
        params={"prompt": "a fox", "steps": 20},
        seed=7,
        device="cpu",
        outputs=["0" * 64],
        started=100.0,
        finished=101.5,
        duration=1.5,
        kind="image",
    )
    values.update(changes)
    return HistoryNode(**values)


def _ids(nodes) -> list[str]:
    return [node.id for node in nodes]


def test_node_round_trips_through_json_and_keeps_unknown_fields():
    node = _root(label="first try")
    data = json.loads(json.dumps(node.to_dict()))
    assert HistoryNode.from_dict(data) == node
    assert len(node.id) == 32 and int(node.id, 16) >= 0  # uuid hex

    data["written_by_a_newer_studio"] = {"x": 1}
    again = HistoryNode.from_dict(data)
    assert again.extra == {"written_by_a_newer_studio": {"x": 1}}
    assert again.to_dict()["written_by_a_newer_studio"] == {"x": 1}


def test_node_from_an_engine_record():
    record = {
        "plugin": "studio.melody",
        "version": "1.2.0",
        "generator": "studio.melody",
        "model": "folk-lstm",
        "model_hash": "cd" * 32,
        "params": {"bars": 8},
        "seed": 3,
        "device": "cpu",
        "started": 10.0,
        "finished": 12.5,
        "job_id": "j1",
    }
    node = HistoryNode.from_record(record, outputs=["1" * 64])
    assert (node.plugin_id, node.plugin_version, node.model_id) == ("studio.melody", "1.2.0", "folk-lstm")
    assert node.duration == 2.5
    assert node.outputs == ["1" * 64]
    assert node.extra == {"job_id": "j1"}


def test_branch_is_a_draft_child_with_the_parents_settings(history):
    root = history.add(_root(starred=True, label="keep"))
    draft = history.branch(root, params={"steps": 30}, seed=8)

    assert draft.id != root.id
    assert draft.parents == [root.id]
    assert draft.params == {"prompt": "a fox", "steps": 30}
    assert draft.seed == 8
    assert (draft.plugin_id, draft.model_hash, draft.device) == (root.plugin_id, root.model_hash, root.device)
    assert draft.outputs == [] and draft.started is None and draft.duration is None
    assert draft.starred is False and draft.label == ""
    assert draft not in history  # recorded only when its generation finishes
    assert history.get(root).params == {"prompt": "a fox", "steps": 20}  # parent untouched


def test_tree_children_roots_walk_and_lineage(history, store, tmp_path):
    a = history.add(_root())
    b = history.add(history.branch(a, params={"steps": 30}))
    c = history.add(history.branch(a, seed=99))
    d = history.add(history.branch(b))
    other = history.add(_root("studio.melody", kind="music"))

    assert _ids(history.children(a)) == [b.id, c.id]
    assert _ids(history.children(d)) == []
    assert _ids(history.parents(d)) == [b.id]
    assert _ids(history.roots()) == [a.id, other.id]
    assert [(node.id, depth) for node, depth in history.walk()] == [
        (a.id, 0),
        (b.id, 1),
        (d.id, 2),
        (c.id, 1),
        (other.id, 0),
    ]
    assert _ids(history.lineage(d)) == [a.id, b.id, d.id]
    assert len(history) == 5
    assert history.latest() == other

    # The graph is in the file, not in memory.
    store.close()
    with ProjectStore.open(tmp_path / "h.studio") as reopened:
        assert _ids(History(reopened).children(a)) == [b.id, c.id]
        assert History(reopened).get(d.id) == d


def test_a_node_with_two_parents_is_walked_once(history):
    left = history.add(_root("studio.melody"))
    right = history.add(_root("studio.melody"))
    mix = history.add(HistoryNode(parents=[left.id, right.id], generator="studio.melody", params={"mode": "interpolate"}))

    walked = [node.id for node, _depth in history.walk()]
    assert walked == [left.id, mix.id, right.id]
    assert _ids(history.children(right)) == [mix.id]


def test_a_node_needs_its_parents_recorded_first(history):
    with pytest.raises(ProjectError, match="parent nope is not in this project's history"):
        history.add(HistoryNode(parents=["nope"]))
    assert len(history) == 0


def test_star_label_and_filter(history):
    a = history.add(_root())
    b = history.add(_root("studio.melody", kind="music"))
    c = history.add(_root("studio.melody", kind="music"))

    history.star(b)
    history.set_label(c, "chorus idea")

    assert _ids(history.filter(starred=True)) == [b.id]
    assert _ids(history.filter(starred=False)) == [a.id, c.id]
    assert _ids(history.filter(generator="studio.melody")) == [b.id, c.id]
    assert _ids(history.filter(generator="studio.melody", starred=True)) == [b.id]
    assert _ids(history.filter(kind="image")) == [a.id]
    assert _ids(history.filter(plugin_id="studio.diffusion")) == [a.id]
    assert history.get(c).label == "chorus idea"
    history.star(b, False)
    assert history.filter(starred=True) == []


def test_delete_reattaches_children_and_restore_undoes_it(history):
    a = history.add(_root())
    b = history.add(history.branch(a))
    c = history.add(history.branch(b))
    d = history.add(history.branch(b))
    before = [node.to_dict() for node in history.nodes()]

    deletion = history.delete(b)

    assert b not in history
    assert history.get(c).parents == [a.id] and history.get(d).parents == [a.id]
    assert _ids(history.children(a)) == [c.id, d.id]
    assert deletion.ids == [b.id]

    history.restore(deletion)
    assert [node.to_dict() for node in history.nodes()] == before  # same nodes, same order
    assert _ids(history.children(b)) == [c.id, d.id]


def test_delete_subtree_and_restore(history):
    a = history.add(_root())
    b = history.add(history.branch(a))
    c = history.add(history.branch(b))
    e = history.add(history.branch(a))
    before = [node.to_dict() for node in history.nodes()]

    deletion = history.delete(b, subtree=True)
    assert _ids(history.nodes()) == [a.id, e.id]
    assert set(deletion.ids) == {b.id, c.id}

    history.restore(deletion)
    assert [node.to_dict() for node in history.nodes()] == before


def test_deleting_a_root_makes_its_children_roots(history):
    a = history.add(_root())
    b = history.add(history.branch(a))
    history.delete(a)
    assert history.get(b).parents == []
    assert _ids(history.roots()) == [b.id]


def test_views_hear_every_change(history):
    heard = []
    unsubscribe = history.subscribe(lambda change, ids: heard.append((change, ids)))
    a = history.add(_root())
    history.star(a)
    deletion = history.delete(a)
    history.restore(deletion)
    unsubscribe()
    history.set_label(a, "quiet")

    assert heard == [("added", [a.id]), ("updated", [a.id]), ("deleted", [a.id]), ("restored", [a.id])]


def test_missing_node_is_a_key_error(history):
    with pytest.raises(KeyError):
        history.get("missing")
    with pytest.raises(KeyError):
        history.branch("missing")
