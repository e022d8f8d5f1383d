"""Which generator does a canvas or timeline action: found by role, chosen by the user.

An action (inpaint, continue a melody…) names a role, never a plugin. When one generator
fills the role it is used; when several do, the generator on the Generate panel wins if it
is one of them (picking it there is how a user says "use this one"), else the one chosen
last time for this role (``roles/<role>`` in the window's settings), else the user is asked
once and the answer is remembered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from studio.core.roles import generators_with_role

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings

    from studio.ui.dialogs import Prompter
    from studio.ui.generate_panel import GeneratePanel


class ChoiceHost(Protocol):
    """Where the choice is made: the Generate panel, the remembered answers, and who asks."""

    settings: QSettings
    prompter: Prompter
    generate_panel: GeneratePanel


SETTINGS_PREFIX = "roles/"


def remembered(window: ChoiceHost, role: str) -> str:
    return str(window.settings.value(SETTINGS_PREFIX + role, "") or "")


def remember(window: ChoiceHost, role: str, generator_id: str) -> None:
    window.settings.setValue(SETTINGS_PREFIX + role, generator_id)


def choose_generator(window: ChoiceHost, role: str, title: str) -> dict[str, Any] | None:
    """The generator to run ``role`` with (None: none fills it, or the user cancelled)."""
    panel = window.generate_panel
    candidates = generators_with_role(panel.generators, role)
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    by_id = {generator["id"]: generator for generator in candidates}
    current = panel.current
    if current is not None and current["id"] in by_id:
        remember(window, role, current["id"])
        return by_id[current["id"]]
    last = remembered(window, role)
    if last in by_id:
        return by_id[last]
    labels = {f"{generator.get('name') or generator['id']} ({generator['id']})": generator["id"] for generator in candidates}
    picked = window.prompter.choose(window, title, f"Several generators can {title.lower()}. Use:", list(labels))
    if picked is None or picked not in labels:
        return None
    remember(window, role, labels[picked])
    return by_id[labels[picked]]
