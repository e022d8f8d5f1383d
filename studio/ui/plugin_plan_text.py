"""The install confirmation's text: what a plugin is, and the permissions it asks for first.

Its own module so that both the plugin manager (a dropped archive) and the plugin browser
(an install from an index) show the same text without importing each other.
"""

from __future__ import annotations

import html

from studio.plugins import install as installer

_DANGER = "#e5534b"
_MUTED = "#8c9099"


def describe_plan(plan: installer.InstallPlan) -> str:
    """The confirmation's body: what is being installed, its permissions first in line."""
    m = plan.manifest.plugin
    rows = "".join(
        f"<tr><td style='padding-right:10px;color:{_MUTED}'>{html.escape(label)}</td><td>{html.escape(value)}</td></tr>"
        for label, value in plan.facts()
        if label != "permissions"
    )
    if m.permissions:
        permissions = "".join(
            f"<li><b>{html.escape(name)}</b>: {html.escape(installer.PERMISSION_TEXT.get(name, name))}</li>" for name in m.permissions
        )
        permission_html = f"<p style='color:{_DANGER}'><b>This plugin asks to:</b></p><ul>{permissions}</ul>"
    else:
        permission_html = "<p><b>Permissions:</b> none. It cannot use the network, start programs or write outside its folders.</p>"
    return (
        f"<p><b>{html.escape(m.name)}</b> {html.escape(m.version)} by {html.escape(m.author or 'an unnamed author')}</p>"
        f"{permission_html}<table>{rows}</table>"
        "<p>Plugins run code on your computer. The permission guard is a safety net, not a sandbox: "
        "install plugins only from people you trust, and compare the SHA-256 with the one they published.</p>"
    )
