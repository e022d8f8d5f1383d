"""The window's modules stay small and acyclic, and helpers never reach for the whole window.

The action helpers once each held the whole ``MainWindow`` (a 6-module import cycle through
annotations) and three modules ran past 700 lines. Each helper now names what it needs (a
small ``Protocol`` host or explicit collaborators), so these checks fail when someone
imports ``main_window`` from a helper again or lets a module grow back into a catch-all.
Imports under ``TYPE_CHECKING`` count: a cycle in the types is a cycle in the design.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

UI = Path(__file__).resolve().parents[2] / "studio" / "ui"
MAX_LINES = 530  # "no module of the window over ~500 lines"
ENTRY_POINTS = {"studio.ui.app", "studio.ui.screenshot"}  # they build the window; nothing imports them


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("studio", cache_dir=None)


def ui_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one ``studio.ui`` module (Tarjan, iterative)."""
    modules = sorted(m for m in graph.modules if m.startswith("studio.ui."))
    edges = {m: sorted(i for i in graph.find_modules_directly_imported_by(m) if i.startswith("studio.ui.")) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(edges.get(child, []))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def test_the_window_package_has_no_import_cycle(graph: grimp.ImportGraph) -> None:
    assert ui_cycles(graph) == []


def test_the_cycle_check_finds_a_cycle_through_a_helper() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in (
        ("studio.ui.main_window", "studio.ui.canvas_actions"),
        ("studio.ui.canvas_actions", "studio.ui.role_choice"),
        ("studio.ui.role_choice", "studio.ui.main_window"),
        ("studio.ui.main_window", "studio.ui.theme"),
    ):
        graph.add_import(importer=importer, imported=imported)
    assert ui_cycles(graph) == [["studio.ui.canvas_actions", "studio.ui.main_window", "studio.ui.role_choice"]]


def test_no_helper_module_imports_the_main_window(graph: grimp.ImportGraph) -> None:
    importers = graph.find_modules_that_directly_import("studio.ui.main_window")
    assert importers <= ENTRY_POINTS, f"{sorted(importers - ENTRY_POINTS)} import main_window: give them a small Protocol host instead"


def test_no_module_of_the_window_is_over_about_500_lines() -> None:
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in UI.glob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
    assert max(sizes[name] for name in ("main_window.py", "canvas.py", "timeline.py")) <= 500
