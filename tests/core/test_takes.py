"""Take groups (studio.core.takes) and their place in the project schema: Qt-free."""

from __future__ import annotations

import pytest

from studio.core.project_documents import CANVAS, TIMELINE, DocumentError, validate_document
from studio.core.takes import TakeGroup, TakesError, slot_shows


def test_take_group_steps_wraps_and_promotes_without_losing_the_others() -> None:
    group = TakeGroup.start({"blob": "a", "node": "n0", "name": "original", "x": 3}, ("blob", "node", "name"))
    for index in (1, 2, 3):
        group.add({"blob": f"b{index}", "node": f"n{index}", "name": f"take {index}"})
    assert group.position() == "4/4" and group.original.node == "n0" and len(group.alternatives) == 3
    assert group.step(+1).node == "n0"  # wraps to the original
    assert group.step(-1).node == "n3"
    group.choose(1)
    promoted = group.promote()
    assert promoted.chosen.node == "n1" and [take.node for take in promoted.set_aside] == ["n0", "n2", "n3"]
    assert TakeGroup.from_dict(group.to_dict()).to_dict() == group.to_dict()
    with pytest.raises(TakesError, match="current take 7"):
        TakeGroup.from_dict({"current": 7, "takes": [{"blob": "a"}]})


def test_the_project_schema_accepts_takes_and_names_a_broken_group() -> None:
    layer = {"id": "l1", "blob": "a", "takes": {"current": 1, "takes": [{"blob": "a"}, {"blob": "b"}]}}
    assert validate_document(CANVAS, {"layers": [layer]})
    assert validate_document(CANVAS, {"layers": [{"id": "l1", "blob": "a"}]})  # an older project: no takes
    with pytest.raises(DocumentError, match="current take 5"):
        validate_document(CANVAS, {"layers": [dict(layer, takes={"current": 5, "takes": [{"blob": "a"}]})]})
    clip = {"id": "c", "start": 0.0, "length": 4.0, "takes": {"current": 0, "takes": []}}
    with pytest.raises(DocumentError, match="takes"):
        validate_document(TIMELINE, {"tracks": [{"id": "t", "kind": "melody", "clips": [clip]}]})


def test_a_slot_shows_its_own_node_and_each_of_its_takes() -> None:
    slot = {"node": "n2", "takes": {"current": 1, "takes": [{"node": "n0"}, {"node": "n2"}]}}
    assert slot_shows(slot, "n0") and slot_shows(slot, "n2") and not slot_shows(slot, "n9")
    assert not slot_shows({"node": "n1", "takes": {"current": 3, "takes": []}}, "n0")  # malformed: a plain slot
