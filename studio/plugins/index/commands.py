"""The index sub-commands of ``python main.py plugins``.

``search``, ``info``, ``install ID[==VERSION]`` (the archive form stays in
``studio.plugins.manage_cli``), ``update [ID]``, ``outdated``, ``index add|remove|list|build``,
``keygen``, ``sign`` and ``trust list|forget``. Messages go to stdout, progress to stderr;
every refusal is a ``StudioError`` whose message names what did not match.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError
from studio.plugins.index.signing import fingerprint

EXIT_OK, EXIT_FAILED = 0, 1
ACTIONS = ("search", "info", "update", "outdated", "index", "keygen", "sign", "trust")
# Actions after which studio.cli reloads a running engine's plugins.
CHANGES_PLUGINS = ("update",)


def add_commands(plugin_commands: Any) -> None:
    search = plugin_commands.add_parser("search", help="find plugins in the configured indexes")
    search.add_argument("words", nargs="*", metavar="WORDS")
    search.add_argument("--category", default="", help="only plugins in this category (a role like image.inpaint, or a kind like image)")
    search.add_argument("--offline", action="store_true", help="search the copies fetched last time, without the network")
    search.add_argument("--json", action="store_true")

    info = plugin_commands.add_parser("info", help="everything an index says about a plugin: versions, permissions, author key")
    info.add_argument("id", metavar="ID")
    info.add_argument("--offline", action="store_true")
    info.add_argument("--json", action="store_true")

    update = plugin_commands.add_parser("update", help="install newer versions from the indexes (all, or one plugin)")
    update.add_argument("id", nargs="?", metavar="ID")
    update.add_argument("--yes", "-y", action="store_true", help="update without asking (after printing what changes)")
    update.add_argument(
        "--timeout", type=float, default=30.0, metavar="SECONDS", help="give up on a download that sends nothing for this long"
    )

    outdated = plugin_commands.add_parser("outdated", help="installed plugins with a newer version, and withdrawn versions")
    outdated.add_argument("--offline", action="store_true")
    outdated.add_argument("--json", action="store_true")

    index = plugin_commands.add_parser("index", help="configure plugin indexes, or build one from a folder of archives")
    index_commands = index.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    add = index_commands.add_parser("add", help="add an index (https:// URL, http:// on this computer, or a folder); pins its key")
    add.add_argument("location", metavar="URL|PATH")
    add.add_argument("--key", metavar="ed25519:…", help="the publisher key you were given; refuse the index unless it is signed with it")
    add.add_argument("--first", action="store_true", help="search it before the other indexes")
    remove = index_commands.add_parser("remove", help="stop using an index (forgets its pinned key)")
    remove.add_argument("location", metavar="URL|PATH|NAME")
    index_commands.add_parser("list", help="the configured indexes with their key fingerprints")
    build = index_commands.add_parser("build", help="write a signed index.json for a folder of plugin archives")
    build.add_argument("folder", type=Path, metavar="FOLDER")
    build.add_argument("--key", type=Path, required=True, metavar="KEYFILE", help="the publisher's private key (from `plugins keygen`)")
    build.add_argument("--name", default="", help="the index's name (default: the folder's name)")
    build.add_argument("--publisher", default="", help="who publishes it")
    build.add_argument("--base-url", default="", help="prefix for archive URLs (default: relative to index.json)")
    build.add_argument("--out", type=Path, default=None, help="where to write it (default: FOLDER/index.json)")

    keygen = plugin_commands.add_parser("keygen", help="create an Ed25519 key pair for signing archives and indexes")
    keygen.add_argument(
        "--out", type=Path, default=Path("studio-signing.key"), metavar="KEYFILE", help="private key file (default: ./studio-signing.key)"
    )

    sign = plugin_commands.add_parser("sign", help="sign a plugin archive as its author (writes ARCHIVE.sig.json)")
    sign.add_argument("archive", type=Path, metavar="ARCHIVE")
    sign.add_argument("--key", type=Path, required=True, metavar="KEYFILE")

    trust = plugin_commands.add_parser("trust", help="the pinned index and author keys")
    trust_commands = trust.add_subparsers(dest="trust_command", metavar="ACTION", required=True)
    trust_commands.add_parser("list", help="every pinned key with its fingerprint")
    forget = trust_commands.add_parser("forget", help="forget the key pinned for a plugin id or an author (after checking the new one)")
    forget.add_argument("name", metavar="ID|AUTHOR")


def run(args: argparse.Namespace, config: Any) -> int:
    action = args.plugins_command
    layout = config.layout
    if action == "search":
        return _search(args, layout)
    if action == "info":
        return _info(args, layout)
    if action == "update":
        return _update(args, layout, config)
    if action == "outdated":
        return _outdated(args, layout)
    if action == "index":
        return _index(args, layout)
    if action == "keygen":
        return _keygen(args)
    if action == "sign":
        return _sign(args)
    if action == "trust":
        return _trust(args, layout)
    raise StudioError(f"unknown plugins action {action!r}")


# --------------------------------------------------------------------------- finding


def _catalogue(layout: Any, *, offline: bool = False) -> Any:
    from studio.plugins.index.catalogue import load_catalogue

    catalogue = load_catalogue(layout, refresh=not offline)
    for message in catalogue.refused:
        print(f"warning: {message}", file=sys.stderr)
    for message in catalogue.problems:
        print(f"note: {message}", file=sys.stderr)
    if not catalogue.indexes and not catalogue.refused and not catalogue.problems:
        raise StudioError("no plugin index is configured; add one with `python main.py plugins index add URL`")
    return catalogue


def _search(args: argparse.Namespace, layout: Any) -> int:
    from studio.plugins.index.catalogue import catalogue_json, managed_plugins

    catalogue = _catalogue(layout, offline=args.offline)
    found = catalogue.search(" ".join(args.words), args.category)
    if args.json:
        wanted = {listing.id for listing in found}
        print(json.dumps([row for row in catalogue_json(catalogue) if row["id"] in wanted], indent=2))
        return EXIT_OK
    if not found:
        print(
            "no plugin matches"
            + (f" in category {args.category!r}" if args.category else "")
            + (f"; categories: {', '.join(catalogue.categories())}" if catalogue.categories() else "")
        )
        return EXIT_OK
    installed = managed_plugins(layout)
    width = max(len(listing.id) for listing in found)
    for listing in found:
        latest = listing.latest
        state = ""
        if listing.id in installed:
            state = f"  [installed {installed[listing.id]}" + (
                f", update {latest.version} available]" if latest and _newer(latest.version, installed[listing.id]) else "]"
            )
        permissions = ", ".join(latest.permissions) if latest and latest.permissions else "no permissions"
        print(
            f"{listing.id:<{width}}  {latest.version if latest else '-':<8}  {listing.entry.name} — by {listing.entry.author} ({permissions}){state}"
        )
        if listing.entry.description:
            print(f"{'':<{width}}  {listing.entry.description}")
    return EXIT_OK


def _info(args: argparse.Namespace, layout: Any) -> int:
    from studio.plugins.index.catalogue import managed_plugins

    catalogue = _catalogue(layout, offline=args.offline)
    listing = catalogue.find(args.id)
    if listing is None:
        from studio.plugins.index.fetch_install import _not_found

        raise StudioError(_not_found(args.id, catalogue))
    entry = listing.entry
    if args.json:
        data = entry.model_dump()
        data["author_key_fingerprint"] = fingerprint(entry.author_key)
        data["index"] = {"name": listing.index.name, "url": listing.index.url, "fingerprint": listing.index.source.fingerprint}
        data["withdrawn"] = {
            item.version: listing.advisory(item.version).reason for item in entry.versions if listing.advisory(item.version)
        }
        print(json.dumps(data, indent=2, default=list))
        return EXIT_OK
    installed = managed_plugins(layout).get(entry.id)
    print(f"{entry.name} ({entry.id})")
    if entry.description:
        print(f"  {entry.description}")
    print(f"  author:     {entry.author}, key {fingerprint(entry.author_key)}")
    print(f"  index:      {listing.index.name} ({listing.index.url}), key {listing.index.source.fingerprint}")
    if entry.homepage:
        print(f"  homepage:   {entry.homepage}")
    if entry.license:
        print(f"  licence:    {entry.license}")
    if entry.categories:
        print(f"  categories: {', '.join(entry.categories)}")
    print(f"  installed:  {installed or 'no'}")
    print("  versions:")
    for item in entry.sorted_versions():
        advisory = listing.advisory(item.version)
        problem = f"WITHDRAWN: {advisory.reason}" if advisory else (item.incompatibility() or "")
        permissions = ", ".join(item.permissions) or "none"
        print(f"    {item.version:<10} {item.size / 1024:>8.1f} KiB  permissions: {permissions}  api {item.api}  {problem}".rstrip())
    return EXIT_OK


def _outdated(args: argparse.Namespace, layout: Any) -> int:
    from studio.plugins.index.catalogue import outdated_plugins, withdrawn_installed

    catalogue = _catalogue(layout, offline=args.offline)
    newer = outdated_plugins(layout, catalogue)
    withdrawn = withdrawn_installed(layout, catalogue)
    if args.json:
        print(
            json.dumps(
                {"outdated": [item.__dict__ for item in newer], "withdrawn": [item.__dict__ for item in withdrawn]}, indent=2, default=list
            )
        )
        return EXIT_OK
    for item in withdrawn:
        print(f"WITHDRAWN {item.describe()}; disable it with `plugins disable {item.plugin_id}` or update")
    for update in newer:
        extra = f" (asks for new permissions: {', '.join(update.new_permissions)})" if update.new_permissions else ""
        print(f"{update.plugin_id}  {update.installed} → {update.latest}  from {update.index}{extra}")
    if not newer and not withdrawn:
        print("every plugin installed from an index is up to date")
    return EXIT_OK


# --------------------------------------------------------------------------- installing


class ProgressBar:
    """A one-line progress bar on stderr (a line per 25% when stderr is not a terminal)."""

    def __init__(self, label: str, stream: Any = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = -1.0
        self._shown = -1

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        if self.tty:
            now = time.monotonic()
            if now - self._last < 0.1 and done < total:
                return
            self._last = now
            filled = int(fraction * 30)
            self.stream.write(
                f"\r  {self.label} [{'#' * filled}{'.' * (30 - filled)}] {fraction * 100:3.0f}% {done / 2**20:.1f}/{total / 2**20:.1f} MiB"
            )
            if done >= total:
                self.stream.write("\n")
            self.stream.flush()
            return
        quarter = int(fraction * 4)
        if quarter > self._shown:
            self._shown = quarter
            print(f"  {self.label}: {fraction * 100:.0f}% of {total} bytes", file=self.stream, flush=True)


def install_from_index(spec: str, config: Any, *, yes: bool, as_json: bool = False, timeout: float = 30.0) -> int:
    """``plugins install ID[==VERSION]``: download, verify, show, confirm, install."""
    from studio.plugins.index.download import TransferLimits
    from studio.plugins.index.fetch_install import ARCHIVE_LIMIT, parse_spec, prepare_install

    layout = config.layout
    plugin_id, _version = parse_spec(spec)
    catalogue = _catalogue(layout)
    limits = TransferLimits(max_bytes=ARCHIVE_LIMIT, stall_timeout=timeout)
    indexed = prepare_install(
        layout, spec, catalogue, limits=limits, progress=ProgressBar(f"downloading {plugin_id}"), plugin_folders=config.plugin_folders()
    )
    return _confirm_and_install(indexed, yes=yes, as_json=as_json)


def _confirm_and_install(indexed: Any, *, yes: bool, as_json: bool = False) -> int:
    from studio.plugins.index.fetch_install import complete_install

    plan = indexed.plan
    if as_json:
        data = plan.to_dict()
        data["trust"] = dict(indexed.trust_facts())
        print(json.dumps(data, indent=2))
    else:
        print(indexed.describe())
    if not yes:
        if not sys.stdin.isatty():
            indexed.discard()
            print(
                f"error: not installed; run again with --yes to {plan.action} {plan.manifest.plugin.id} {plan.manifest.plugin.version}",
                file=sys.stderr,
            )
            return EXIT_FAILED
        answer = input(f"{plan.action.capitalize()} {plan.manifest.plugin.id} {plan.manifest.plugin.version}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            indexed.discard()
            print("not installed")
            return EXIT_FAILED
    result = complete_install(indexed, step=_step)
    if result.previous_version:
        print(f"upgraded {result.manifest.plugin.id} {result.previous_version} → {result.manifest.plugin.version} in {result.path}")
        print(f"the previous version is kept: `python main.py plugins rollback {result.manifest.plugin.id}` restores it")
    else:
        print(f"installed {result.manifest.plugin.id} {result.manifest.plugin.version} in {result.path}")
    return EXIT_OK


def _step(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def _update(args: argparse.Namespace, layout: Any, config: Any) -> int:
    from studio.plugins.index.catalogue import managed_plugins, outdated_plugins
    from studio.plugins.index.download import TransferLimits
    from studio.plugins.index.fetch_install import ARCHIVE_LIMIT, prepare_install

    catalogue = _catalogue(layout)
    if args.id and args.id not in managed_plugins(layout):
        raise StudioError(f"{args.id} is not installed with `plugins install`; install it with `plugins install {args.id}`")
    todo = [item for item in outdated_plugins(layout, catalogue) if args.id in (None, item.plugin_id)]
    if args.id is None:
        # A plugin installed from an archive is only taken over by an index when asked by name.
        from studio.plugins.index.trust import TrustStore

        pinned = TrustStore.load(layout).plugins
        for item in [item for item in todo if item.plugin_id not in pinned]:
            print(
                f"note: {item.plugin_id} was not installed from an index; `plugins update {item.plugin_id}` takes {item.latest} from {item.index}"
            )
            todo.remove(item)
    if not todo:
        print(f"{args.id} is up to date" if args.id else "every plugin installed from an index is up to date")
        return EXIT_OK
    limits = TransferLimits(max_bytes=ARCHIVE_LIMIT, stall_timeout=args.timeout)
    status = EXIT_OK
    for item in todo:
        print(f"{item.plugin_id}: {item.installed} → {item.latest}")
        try:
            indexed = prepare_install(
                layout,
                f"{item.plugin_id}=={item.latest}",
                catalogue,
                limits=limits,
                progress=ProgressBar(f"downloading {item.plugin_id}"),
                plugin_folders=config.plugin_folders(),
            )
            result = _confirm_and_install(indexed, yes=args.yes)
        except StudioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            result = EXIT_FAILED
        status = status or result
    return status


# --------------------------------------------------------------------------- configuring


def _index(args: argparse.Namespace, layout: Any) -> int:
    from studio.plugins.index.catalogue import add_index, remove_index
    from studio.plugins.index.trust import TrustStore

    action = args.index_command
    if action == "add":
        source, content = add_index(layout, args.location, key=args.key, first=args.first)
        how = "matches the key you gave" if args.key else "pinned on first use: compare it with the one its publisher gives"
        print(f"added index {content.name!r} ({source.url}) with {len(content.plugins)} plugin(s)")
        print(f"publisher key {source.fingerprint} ({how})")
        return EXIT_OK
    if action == "remove":
        source = remove_index(layout, args.location)
        print(f"removed index {source.name!r} ({source.url}); its pinned key {source.fingerprint} is forgotten")
        return EXIT_OK
    if action == "list":
        store = TrustStore.load(layout)
        if not store.indexes:
            print("no plugin index is configured; add one with `plugins index add URL`")
        for position, source in enumerate(store.indexes, 1):
            print(f"{position}. {source.name or '(unnamed)'}  {source.url}\n   key {source.fingerprint}, pinned {source.added}")
        return EXIT_OK
    if action == "build":
        from studio.plugins.index.publish import build_index
        from studio.plugins.index.signing import load_key

        key = load_key(args.key)
        path, signed = build_index(args.folder, key, name=args.name, publisher=args.publisher, base_url=args.base_url, out=args.out)
        versions = sum(len(plugin["versions"]) for plugin in signed["plugins"])
        print(path)
        print(
            f"{len(signed['plugins'])} plugin(s), {versions} version(s), {len(signed['advisories'])} advisory(ies); signed by {key.public.fingerprint}"
        )
        print(f"publisher key (give it to users for `plugins index add URL --key …`): {key.public.text}")
        return EXIT_OK
    raise StudioError(f"unknown index action {action!r}")


def _keygen(args: argparse.Namespace) -> int:
    from studio.plugins.index.signing import generate_key

    key = generate_key(args.out)
    print(f"private key: {args.out} (keep it secret and backed up; losing it means users must re-trust a new key)")
    print(f"public key:  {key.public.text}")
    print(f"fingerprint: {key.public.fingerprint}")
    return EXIT_OK


def _sign(args: argparse.Namespace) -> int:
    from studio.plugins.index.publish import sign_archive
    from studio.plugins.index.signing import load_key

    key = load_key(args.key)
    path = sign_archive(args.archive, key)
    print(path)
    print(f"signed by {key.public.fingerprint}")
    return EXIT_OK


def _trust(args: argparse.Namespace, layout: Any) -> int:
    from studio.plugins.index.trust import TrustStore

    store = TrustStore.load(layout)
    if args.trust_command == "list":
        for source in store.indexes:
            print(f"index   {source.url}  {source.fingerprint}  (pinned {source.added})")
        for name, pin in sorted(store.authors.items()):
            print(f"author  {name}  {fingerprint(pin.key)}  (pinned {pin.first_seen})")
        for name, plugin_pin in sorted(store.plugins.items()):
            print(f"plugin  {name}  {fingerprint(plugin_pin.key)}  (by {plugin_pin.author}, {plugin_pin.version} from {plugin_pin.index})")
        if not (store.indexes or store.authors or store.plugins):
            print("no keys are pinned")
        return EXIT_OK
    gone = store.forget(args.name)
    store.save()
    print(f"forgot the key pinned for {' and '.join(gone)}; the next install pins the key it is signed with")
    return EXIT_OK


def _newer(candidate: str, installed: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(candidate) > Version(installed)
    except InvalidVersion:
        return False
