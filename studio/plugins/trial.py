"""The installer's trial import: load a new plugin once, in a sandboxed process of its own.

``python -P -m studio.plugins.trial FOLDER WORK HOME`` imports and constructs every
generator of the plugin in FOLDER exactly as its sandboxed engine worker will: restricted by
the kernel layers this machine has (``studio.plugins.guard.sandbox``), under the audit hook
for the rest of the process's life, and ended with ``os._exit`` so that nothing the plugin
registered (``atexit``, finalizers) runs after the check. Prints one JSON line on success;
on failure, the last line of stderr says why.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    folder, work, home = (Path(value) for value in argv[:3])
    from studio.core.paths import REPO_ROOT
    from studio.plugins.discovery import PluginRecord
    from studio.plugins.guard.sandbox import (
        Protection,
        SandboxError,
        enter,
        guard_for_life,
        plan_sandbox,
    )
    from studio.plugins.host import instantiate_generator, plugin_import_path
    from studio.plugins.manifest import read_manifest

    manifest = read_manifest(folder, source="user")
    plan = plan_sandbox(
        plugin_id=manifest.plugin.id,
        permissions=manifest.plugin.permissions,
        plugin_folder=folder,
        home=home,
        data_dir=work / "data",
        work_dir=work,
        artifacts_dir=work / "artifacts",
        code_paths=[str(REPO_ROOT), str(REPO_ROOT / "studio"), str(REPO_ROOT / "resources")],
    )
    try:
        enter(plan)
    except SandboxError as exc:
        print(f"the plugin's sandbox could not be set up: {exc}", file=sys.stderr)
        return 4
    guard_for_life(plan, manifest, Protection(process=True))
    record = PluginRecord(folder=folder, source="user", manifest=manifest)
    with plugin_import_path(record):
        loaded = [type(instantiate_generator(info, record)).__name__ for info in manifest.generators]
    print(json.dumps({"ok": True, "generators": loaded}))
    return 0


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except BaseException as exc:  # noqa: BLE001 - anything a plugin raises is the trial's answer; the installer reports stderr's last line
        traceback.print_exc()
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
