"""``python main.py plugins install | remove | rollback | new | pack`` (and the index actions).

``studio.cli`` owns ``plugins list | enable | disable`` and hands every other ``plugins``
action to ``run``. Like the rest of the command line, a user's mistake ends in one line on
stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError

EXIT_OK, EXIT_FAILED = 0, 1
# studio.cli applies install/remove/rollback to a running engine afterwards
# (POST /plugins/reload) and says so: this layer does not talk to the engine.


def add_commands(plugin_commands: Any) -> None:
    """Register the install/remove/rollback/new/pack actions on the ``plugins`` sub-parser."""
    install = plugin_commands.add_parser(
        "install", help="install a plugin from a .zip archive, a wheel, or by id from the indexes (shows what it is first)"
    )
    install.add_argument("archive", metavar="ARCHIVE|ID[==VERSION]")
    install.add_argument("--sha256", metavar="HEX", help="refuse the archive unless its SHA-256 is this (as published by its author)")
    install.add_argument("--yes", "-y", action="store_true", help="install without asking (after printing what it is)")
    install.add_argument("--json", action="store_true", help="print the facts as JSON")
    install.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="from an index: give up on a download that sends nothing for this long",
    )

    remove = plugin_commands.add_parser("remove", help="delete an installed plugin (every kept version)")
    remove.add_argument("id")

    rollback = plugin_commands.add_parser("rollback", help="go back to the version that was installed before the last upgrade")
    rollback.add_argument("id")

    new = plugin_commands.add_parser("new", help="start a new plugin from the template")
    new.add_argument("name", metavar="NAME", help="a short name, e.g. 'Pixel sort'")
    new.add_argument("--id", dest="plugin_id", help="the plugin id (default: <your user name>.<package>)")
    new.add_argument("--author", default="", help="your name, for plugin.toml")
    new.add_argument("--dir", dest="directory", type=Path, default=None, help="where to create it (default: ./<name>)")

    pack = plugin_commands.add_parser("pack", help="check a plugin folder and build its .zip archive; prints the archive's SHA-256")
    pack.add_argument("folder", type=Path, metavar="DIR")
    pack.add_argument("--out", type=Path, default=None, help="archive path (default: ./<id>-<version>.zip)")

    from studio.plugins.index import commands as index_commands

    index_commands.add_commands(plugin_commands)


def run(args: argparse.Namespace, config: Any) -> int:
    """Carry out a ``plugins`` action; ``config`` is the engine's config for this STUDIO_HOME."""
    try:
        return _run(args, config)
    except OSError as exc:  # a full disk, a read-only folder: a message, not a traceback
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        raise StudioError(f"{where}{exc.strerror or exc}") from None


def _run(args: argparse.Namespace, config: Any) -> int:
    action = args.plugins_command
    if action == "install":
        return _install(args, config)
    if action == "remove":
        return _remove(args, config)
    if action == "rollback":
        return _rollback(args, config)
    if action == "new":
        return _new(args)
    if action == "pack":
        return _pack(args)
    from studio.plugins.index import commands as index_commands

    if action in index_commands.ACTIONS:
        return index_commands.run(args, config)
    raise StudioError(f"unknown plugins action {action!r}")


def _install(args: argparse.Namespace, config: Any) -> int:
    import json

    from studio.plugins.install import install, plan_install

    if not _names_an_archive(args.archive):
        from studio.plugins.index.commands import install_from_index

        if args.sha256:
            raise StudioError("--sha256 is for archives; a plugin installed by id is checked against its signed index")
        return install_from_index(args.archive, config, yes=args.yes, as_json=args.json, timeout=args.timeout)
    args.archive = Path(args.archive)
    plan = plan_install(args.archive, layout=config.layout, plugin_folders=config.plugin_folders(), expected_sha256=args.sha256)
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        print(plan.describe())
    if not args.yes:
        if not sys.stdin.isatty():
            print(
                f"error: not installed; run again with --yes to {plan.action} {plan.manifest.plugin.id} {plan.manifest.plugin.version}",
                file=sys.stderr,
            )
            return EXIT_FAILED
        answer = input(f"{plan.action.capitalize()} {plan.manifest.plugin.id} {plan.manifest.plugin.version}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("not installed")
            return EXIT_FAILED

    def step(message: str) -> None:
        print(f"  … {message}", file=sys.stderr, flush=True)

    result = install(plan, step=step)
    what = (
        f"upgraded {result.manifest.plugin.id} {result.previous_version} → {result.manifest.plugin.version}"
        if result.previous_version
        else f"installed {result.manifest.plugin.id} {result.manifest.plugin.version}"
    )
    print(f"{what} in {result.path}")
    if result.previous_version:
        print(f"the previous version is kept: `python main.py plugins rollback {result.manifest.plugin.id}` restores it")
    return EXIT_OK


def _names_an_archive(target: str) -> bool:
    """An existing file, or anything that looks like a path to one, is an archive; else an id."""
    return Path(target).exists() or target.lower().endswith((".zip", ".whl")) or "/" in target or "\\" in target


def _remove(args: argparse.Namespace, config: Any) -> int:
    from studio.plugins.install import remove

    path = remove(args.id, config.layout, config.plugin_folders())
    print(f"removed {args.id} ({path})")
    return EXIT_OK


def _rollback(args: argparse.Namespace, config: Any) -> int:
    from studio.plugins.install import rollback

    old, new = rollback(args.id, config.layout)
    print(f"rolled {args.id} back from {old} to {new}; {old} is kept (run rollback again to return to it)")
    return EXIT_OK


def _new(args: argparse.Namespace) -> int:
    folder = scaffold(args.name, directory=args.directory, plugin_id=args.plugin_id, author=args.author)
    print(f"created {folder}")
    print("next: edit its generator, run its tests with `python -m pytest " + str(folder / "tests") + "`,")
    print(f"then `python main.py plugins pack {folder}` and `python main.py plugins install <the .zip>` (see docs/plugins.md)")
    return EXIT_OK


def _pack(args: argparse.Namespace) -> int:
    from studio.plugins.archive import pack_folder

    path, digest = pack_folder(args.folder, out=args.out)
    print(path)
    print(f"sha256: {digest}")
    return EXIT_OK


# --------------------------------------------------------------------------- plugins new

# The template (plugins/_template) is a working plugin; these strings in it are replaced.
TEMPLATE_ID = "yourname.myplugin"
TEMPLATE_PACKAGE = "myplugin"
TEMPLATE_NAME = "My plugin"
TEMPLATE_AUTHOR = "Your Name"


def template_dir() -> Path:
    from studio.core.paths import first_party_plugins_dir

    return first_party_plugins_dir() / "_template"


def scaffold(name: str, *, directory: Path | None = None, plugin_id: str | None = None, author: str = "") -> Path:
    """Copy the template plugin to a new folder, renamed for ``name``; returns the folder."""
    import getpass
    import re
    import shutil

    from studio.plugins.install import RESERVED_PREFIX, host_provides_module

    title = " ".join(name.split())
    package = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")
    if not package or not package[0].isalpha():
        raise StudioError(f"{name!r}: a plugin name starts with a letter, e.g. 'Pixel sort'")
    if host_provides_module(package):
        raise StudioError(f"{name!r} would make a Python package {package!r}, which the studio already has; choose another name")
    if plugin_id is None:
        try:
            user = re.sub(r"[^a-z0-9]+", "", getpass.getuser().lower())
        except Exception:  # no user name available (containers): fall back to a placeholder
            user = ""
        prefix = user if user and user[0].isalpha() and user != "studio" else "me"
        plugin_id = f"{prefix}.{package.replace('_', '-')}"
    if not re.fullmatch(r"[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+", plugin_id) or plugin_id.startswith(RESERVED_PREFIX):
        raise StudioError(
            f"--id {plugin_id!r}: a plugin id is reverse-dns style like 'yourname.pixel-sort' and does not start with 'studio.'"
        )
    source = template_dir()
    if not (source / "plugin.toml").is_file():
        raise StudioError(f"the plugin template is missing ({source}); reinstall the studio")
    folder = Path(directory) if directory is not None else Path.cwd() / package.replace("_", "-")
    if folder.exists() and any(folder.iterdir()):
        raise StudioError(f"{folder} already exists and is not empty; choose another --dir")
    shutil.copytree(source, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    (folder / TEMPLATE_PACKAGE).rename(folder / package)
    replacements = [(TEMPLATE_ID, plugin_id), (TEMPLATE_NAME, title), (TEMPLATE_AUTHOR, author or "Your Name"), (TEMPLATE_PACKAGE, package)]
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".toml", ".md", ".txt", ".cfg"):
            text = path.read_text(encoding="utf-8")
            for old, new in replacements:
                text = text.replace(old, new)
            path.write_text(text, encoding="utf-8")
    return folder
