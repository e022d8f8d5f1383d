"""The command line: ``python main.py [command]`` (also installed as ``studio``).

Arguments are parsed inside ``main`` only, never at import. Every failure a user can cause
(unknown plugin, bad parameter, unreadable file, engine that will not start) ends with a
one-line reason on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.errors import StudioError
from studio.core.logs import configure_logging
from studio.core.paths import HomeLayout

if TYPE_CHECKING:
    from studio.engine.protocol import GeneratorEntry, PluginEntry

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Studio: an offline creative studio for images, melodies, text and audio.")
    parser.add_argument("--safe-mode", action="store_true", help="start with every community plugin disabled")
    parser.add_argument("--project", type=Path, help="open this project file in the window")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    engine = commands.add_parser("engine", help="run the inference engine in the foreground")
    engine.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback; elsewhere the token is still required)")
    engine.add_argument("--port", type=int, default=0, help="port (default: any free port, written to engine.json)")
    engine.add_argument("--safe-mode", action="store_true", dest="engine_safe_mode", help="community plugins off")
    engine.add_argument("--ssl-certfile", default="", metavar="PEM", help="serve HTTPS with this certificate (for --host beyond loopback)")
    engine.add_argument("--ssl-keyfile", default="", metavar="PEM", help="the certificate's private key")
    engine.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="ADDRESS",
        help="run jobs on Ray actors (one per GPU, or per --ray-cpus CPUs); ADDRESS of a running cluster, or none for a local one (needs the cluster extra)",
    )
    engine.add_argument(
        "--ray-actors", type=int, default=None, metavar="N", help="how many actors (default: one per GPU, else one per --ray-cpus CPUs)"
    )
    engine.add_argument("--ray-cpus", type=float, default=1.0, metavar="N", help="CPUs per actor on a CPU-only cluster (default 1)")
    engine.add_argument("--started-by", choices=("user", "window", "cli"), default="user", help=argparse.SUPPRESS)
    engine.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit after this long with no client and no job (default: stay; on-demand engines: STUDIO_ENGINE_IDLE_EXIT or 300)",
    )
    engine.add_argument(
        "--keep-alive",
        type=float,
        default=None,
        metavar="SECONDS",
        help="unload models this long after the last job (default: STUDIO_KEEP_ALIVE or 300; 0: right after)",
    )

    generate = commands.add_parser("generate", help="run one generation and write its output(s)")
    generate.add_argument("plugin", metavar="PLUGIN_ID", nargs="?", help="the generator (not needed with --from)")
    generate.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        metavar="FILE",
        help="re-run what FILE records (ours or another tool's); --param and --seed override it",
    )
    generate.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter; VALUE '@file' reads a file (image, MIDI, text)",
    )
    generate.add_argument("--seed", type=_seed_argument, default=None, help="0 to 2^64-1")
    generate.add_argument(
        "--out", "-o", required=True, metavar="PATH", help="a file (its extension picks the format) or a folder (existing, or ending in /)"
    )
    generate.add_argument("--timeout", type=float, default=None, help="cancel the job after this many seconds")
    generate.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _engine_options(generate)

    inspect = commands.add_parser("inspect", help="print the generation parameters stored in a PNG, MIDI, audio or project file")
    inspect.add_argument("file", type=Path)

    plugins = commands.add_parser("plugins", help="list and manage plugins")
    plugin_commands = plugins.add_subparsers(dest="plugins_command", metavar="ACTION", required=True)
    listing = plugin_commands.add_parser("list", help="every plugin found, with its state")
    listing.add_argument("--json", action="store_true")
    for name, text in (("enable", "enable a plugin"), ("disable", "disable a plugin")):
        sub = plugin_commands.add_parser(name, help=text)
        sub.add_argument("id")

    train = commands.add_parser("train", help="train or fine-tune a plugin's model, as an engine job")
    train.add_argument(
        "plugin", metavar="PLUGIN", help="a plugin id whose manifest declares a train command, or its last part (e.g. melody)"
    )
    _engine_options(train)
    train.add_argument(
        "rest",
        nargs=argparse.REMAINDER,
        help="options for the plugin's trainer (see `train PLUGIN --help`); a folder is uploaded to the engine",
    )

    engine_pair = commands.add_parser(
        "engine-pair", help="print a new short pairing code for this home's running engine (for another machine to connect)"
    )
    engine_pair.add_argument(
        "--ttl", type=float, default=None, metavar="SECONDS", help="how long it stays valid (default STUDIO_PAIR_TTL or 300)"
    )

    screenshot = commands.add_parser("screenshot", help="render the main window off-screen to a PNG and exit")
    screenshot.add_argument("--out", type=Path, required=True)
    screenshot.add_argument("--project", type=Path, dest="screenshot_project")
    screenshot.add_argument("--size", default="1600x1000", metavar="WxH")

    _extend_parser(commands, plugin_commands)
    return parser


def _engine_options(parser: argparse.ArgumentParser) -> None:
    """``--engine`` / ``--engine-token-file`` on every command that talks to the engine."""
    parser.add_argument(
        "--engine",
        metavar="URL",
        default=None,
        help="use the engine at URL (another machine) instead of this home's; default STUDIO_ENGINE_URL",
    )
    parser.add_argument(
        "--engine-token-file",
        metavar="FILE",
        default=None,
        help="the remote engine's remote.json or engine.json (or a file with its token); default STUDIO_ENGINE_TOKEN / STUDIO_ENGINE_TOKEN_FILE",
    )
    parser.add_argument(
        "--pair",
        metavar="CODE",
        default=None,
        help="the short pairing code the remote engine printed (e.g. K7QM-4XPD), traded once for its token and remembered",
    )


def _engine_client(args: argparse.Namespace) -> Any:
    """The engine this command talks to: the remote one named by --engine / STUDIO_ENGINE_URL,
    else this home's (started on demand)."""
    import os

    from studio.core.paths import studio_home
    from studio.engine.client import EngineClient
    from studio.engine.remote import resolve_address

    pair_code = getattr(args, "pair", None)
    if pair_code and not (getattr(args, "engine", None) or os.environ.get("STUDIO_ENGINE_URL")):
        raise StudioError("--pair needs the engine's URL: --engine URL --pair CODE")
    address = resolve_address(getattr(args, "engine", None), getattr(args, "engine_token_file", None), pair_code, studio_home())
    if address is not None:
        return EngineClient(address.url, address.token)
    return EngineClient.connect(safe_mode=args.safe_mode, started_by="cli")


def _extend_parser(commands: Any, plugin_commands: Any) -> None:
    """Hook for command groups that live in their own modules (plugin installs)."""
    try:
        from studio.plugins import manage_cli
    except ImportError:
        return
    manage_cli.add_commands(plugin_commands)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return _open_window(args)
        if args.command == "engine":
            return _engine(args)
        if args.command == "generate":
            return _generate(args)
        if args.command == "inspect":
            return _inspect(args)
        if args.command == "plugins":
            return _plugins(args)
        if args.command == "train":
            return _train(args)
        if args.command == "screenshot":
            return _screenshot(args)
        if args.command == "engine-pair":
            return _engine_pair(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    parser.print_help()
    return EXIT_USAGE


# --------------------------------------------------------------------------- commands


def _open_window(args: argparse.Namespace) -> int:
    try:
        from studio.ui.app import run_app
    except ImportError as exc:
        print(
            f"error: the desktop window is not available ({exc}); see `python main.py plugins list` and try `python main.py generate PLUGIN_ID --out art.png`",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return run_app(project=args.project, safe_mode=args.safe_mode)


def _screenshot(args: argparse.Namespace) -> int:
    try:
        from studio.ui.screenshot import take_screenshot
    except ImportError as exc:
        print(f"error: the desktop window is not available ({exc})", file=sys.stderr)
        return EXIT_FAILED
    width, _, height = args.size.lower().partition("x")
    try:
        size = (int(width), int(height))
    except ValueError:
        print(f"error: --size takes WIDTHxHEIGHT, e.g. 1600x1000, got {args.size!r}", file=sys.stderr)
        return EXIT_USAGE
    path = take_screenshot(args.out, project=args.screenshot_project, size=size)
    print(path)
    return EXIT_OK


def _engine(args: argparse.Namespace) -> int:
    from studio.engine.config import EngineConfig
    from studio.engine.lifecycle import LifecyclePolicy
    from studio.engine.remote import connection_instructions, write_remote_file
    from studio.engine.server import Engine, is_loopback

    config = EngineConfig.from_environment(
        safe_mode=args.safe_mode or args.engine_safe_mode,
        host=args.host,
        port=args.port,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
    )
    configure_logging(HomeLayout(config.home).logs_dir, "engine")
    engine = Engine(config, LifecyclePolicy.from_environment(args.started_by, args.idle_exit, args.keep_alive))
    if args.ray is not None:
        from studio.engine.ray_backend import RayUnavailable, use_ray

        try:
            use_ray(engine, None if args.ray == "auto" else args.ray, args.ray_actors, args.ray_cpus)
        except RayUnavailable as exc:
            raise StudioError(str(exc)) from None
    url = engine.bind()
    try:
        remote_file = write_remote_file(engine.layout.engine_file, url, engine.token)
    except OSError as exc:
        from studio.engine.artifact_store import storage_message

        engine.close()
        raise StudioError(f"cannot start the engine: {storage_message(exc, engine.layout.root)}") from None
    if is_loopback(config.host):
        print(f"studio engine listening on {url} (token in {engine.layout.engine_file})", file=sys.stderr, flush=True)
    else:
        code, ttl = engine.pairing.issue()
        print(connection_instructions(url, engine.token, remote_file, code, ttl), file=sys.stderr, flush=True)
    engine.serve()
    return EXIT_OK


def _engine_pair(args: argparse.Namespace) -> int:
    """A new pairing code from the engine running for this STUDIO_HOME (it must be running)."""
    from studio.engine.client import EngineClient

    if args.ttl is not None and not 0 < args.ttl <= 86400:
        raise StudioError(f"--ttl {args.ttl:g}: give a positive number of seconds, at most 86400")
    with EngineClient.connect(start=False) as client:
        code = client.new_pair_code(args.ttl)
    print(f"pairing code {code.code} (single use, valid {code.expires_in:g} s)")
    print(f"  on the other machine: python main.py generate --engine URL --pair {code.code} ...  or Preferences > Engine > remote")
    return EXIT_OK


def _seed_argument(text: str) -> int:
    from studio.core.params import SEED_MAX

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is a whole number from 0 to {SEED_MAX}, got {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"a seed is a whole number from 0 to {SEED_MAX}, got {value}")
    return value


def _generate(args: argparse.Namespace) -> int:
    from studio.core.output_files import check_out

    if args.plugin is None and args.from_file is None:
        raise StudioError("generate needs a PLUGIN_ID, or --from FILE to re-run what a file records")
    raw = _parse_params(args.param)
    client = _engine_client(args)
    with client:
        catalogue = client.plugins().generators
        generators = {g.id: g for g in catalogue}
        restored: dict[str, Any] = {}
        seed = args.seed
        plugin_id = args.plugin
        if args.from_file is not None:
            restore = _restore_for(args.from_file, catalogue, client)
            if restore.generator is None or restore.generator not in generators:
                reason = restore.unmapped.get("generator") or "no generator to re-run it with"
                raise StudioError(f"{args.from_file}: {reason}")
            if plugin_id is not None and plugin_id != restore.generator:
                raise StudioError(f"{args.from_file} was made with {restore.generator}, not {plugin_id}; leave PLUGIN_ID out with --from")
            plugin_id = restore.generator
            restored = dict(restore.params)
            if seed is None:
                seed = restore.seed
            for field, why in restore.unmapped.items():
                print(f"not restored: {field}: {why}", file=sys.stderr)
        generator = generators.get(plugin_id)
        if generator is None:
            known = ", ".join(sorted(generators)) or "none"
            raise StudioError(f"unknown generator {plugin_id!r}; available: {known}")
        target = check_out(args.out, generator.kind)
        params = {**restored, **_resolve_file_values(client, generator, raw)}
        progress = _ProgressBar(enabled=not args.quiet and sys.stderr.isatty())
        job = client.run(plugin_id, params, seed, on_event=progress.update, timeout=args.timeout)
        progress.finish()
        if job["state"] == "failed":
            raise StudioError(job.get("error") or "the job failed")
        if job["state"] == "cancelled":
            raise StudioError("the job was cancelled")
        paths = _write_outputs(client, job, target, plugin_id)
    for path in paths:
        print(path)
    return EXIT_OK


def _restore_for(path: Path, catalogue: list[GeneratorEntry], client: Any) -> Any:
    """The restore object of ``path`` against the engine's catalogue and models."""
    from studio.core.paths import HomeLayout, studio_home
    from studio.core.restore import local_models, restore_file

    found = [entry.model_dump(mode="json") for entry in client.models().found]
    layout = HomeLayout(Path(client.home or studio_home()))
    generators = [generator.model_dump(mode="json") for generator in catalogue]
    return restore_file(path, generators, local_models(found, layout.cache_dir / "hashes.json"))


def _offline_catalogue(safe_mode: bool = False) -> list[dict[str, Any]]:
    """Generator catalogue dicts from the plugin manifests on disk (no engine, no plugin code)."""
    from studio.engine.config import EngineConfig
    from studio.plugins.discovery import discover

    config = EngineConfig.from_environment(safe_mode=safe_mode)
    found = discover(config.plugin_folders(), disabled=config.disabled_plugins, safe_mode=config.safe_mode)
    catalogue = []
    for record in found.records:
        if record.manifest is None or getattr(record, "state", "enabled") != "enabled":
            continue
        catalogue.extend(generator.to_dict() for generator in record.manifest.generators)
    return catalogue


def _parse_params(items: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise StudioError(f"--param takes NAME=VALUE, got {item!r}")
        params[name.strip()] = value
    return params


def _resolve_file_values(client: Any, generator: GeneratorEntry, raw: dict[str, str]) -> dict[str, Any]:
    """Read ``@file`` values: upload inputs (image, MIDI, audio), inline text files."""
    from studio.core.artifacts import kind_for_path
    from studio.core.params import ARTIFACT_PARAM_TYPES

    types = {param.name: param.type for param in generator.params}
    resolved: dict[str, Any] = {}
    for name, value in raw.items():
        if not value.startswith("@"):
            resolved[name] = value
            continue
        path = Path(value[1:]).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StudioError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None
        kind = types.get(name)
        if kind in ARTIFACT_PARAM_TYPES:
            try:
                file_kind, mime = kind_for_path(path.name)
            except ValueError as exc:
                raise StudioError(f"{name}: {exc}") from None
            if kind == "mask":
                file_kind = "image"
            resolved[name] = client.upload(data, kind=file_kind, mime=mime)
        else:
            try:
                resolved[name] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise StudioError(f"{name}: {path} is not a UTF-8 text file") from None
    return resolved


def _write_outputs(client: Any, job: dict[str, Any], target: Any, generator_id: str) -> list[Path]:
    """Download the job's artefacts into ``target`` (an ``OutTarget``), converting each
    to the format its extension names (metadata moved to that format's place)."""
    from studio.core.artifacts import EXTENSION_BY_MIME
    from studio.core.output_files import convert

    artifacts = job.get("artifacts") or [{"id": artifact_id} for artifact_id in job["outputs"]]
    downloaded = [client.artifact(artifact["id"]) for artifact in artifacts]
    record = job.get("record") or {}
    seed = record.get("seed", job.get("seed"))
    stem = generator_id.rsplit(".", 1)[-1] + (f"-{seed}" if seed is not None else f"-{job['id'][:8]}")
    first_mime = downloaded[0][1] if downloaded else ""
    default_extension = EXTENSION_BY_MIME.get(first_mime.split(";")[0].strip(), EXTENSION_BY_MIME.get(first_mime, ""))
    paths = target.paths_for(len(downloaded), stem=stem, default_extension=default_extension)
    if paths:
        paths[0].parent.mkdir(parents=True, exist_ok=True)
    for (data, mime), path in zip(downloaded, paths):
        data = convert(data, mime, path.suffix)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return paths


def _inspect(args: argparse.Namespace) -> int:
    from studio.core.inspect_file import inspect_path
    from studio.core.restore import restore_from_info

    if not args.file.exists():
        raise StudioError(f"{args.file}: no such file")
    info = inspect_path(args.file)
    try:
        restore = restore_from_info(info, _offline_catalogue(args.safe_mode), _restore_models())
        info["restore"] = restore.to_dict()
    except StudioError as exc:
        info["restore"] = None
        info["restore_error"] = str(exc)
    print(json.dumps(info, indent=2, sort_keys=False, default=str))
    return EXIT_OK


def _restore_models() -> list[Any]:
    from studio.core.restore import local_models
    from studio.engine.config import EngineConfig
    from studio.engine.model_scan import scan_models

    config = EngineConfig.from_environment()
    return local_models(scan_models(config.all_model_paths()), config.layout.cache_dir / "hashes.json")


def _plugins(args: argparse.Namespace) -> int:
    from studio.core.settings import load_settings, save_settings
    from studio.engine.config import EngineConfig

    config = EngineConfig.from_environment(safe_mode=args.safe_mode)
    if args.plugins_command == "list":
        rows = _plugin_rows(config)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            _print_plugin_table(rows)
        return EXIT_OK
    if args.plugins_command in ("enable", "disable"):
        rows = {row["id"]: row for row in _plugin_rows(config)}
        if args.id not in rows:
            raise StudioError(f"no plugin {args.id!r}; see `python main.py plugins list`")
        settings = load_settings(config.layout)
        disabled = [item for item in settings.disabled_plugins if item != args.id]
        if args.plugins_command == "disable":
            disabled.append(args.id)
        settings.disabled_plugins = disabled
        save_settings(config.layout, settings)
        print(f"{args.id} {args.plugins_command}d; {_apply_to_running_engine(config)}")
        return EXIT_OK
    from studio.plugins import manage_cli

    status = manage_cli.run(args, config)
    if status == EXIT_OK and args.plugins_command in ("install", "remove", "rollback", "update"):
        print(_apply_to_running_engine(config))
    return status


def _apply_to_running_engine(config: Any) -> str:
    """Reload the running engine's plugins, if one runs; say what happened."""
    from studio.engine.client import EngineClient, EngineError

    try:
        client = EngineClient.connect(config.home, start=False)
    except EngineError:
        return "the engine picks this up when it starts"
    with client:
        try:
            client.reload_plugins()
        except EngineError as exc:
            if "409" in str(exc):
                return "the running engine is busy: this applies once its job ends and plugins are reloaded (or at its next start)"
            raise
    return "applied to the running engine"


def _plugin_rows(config: Any) -> list[dict[str, Any]]:
    """Manifest facts from disk, merged with the running engine's knowledge of load failures."""
    from studio.plugins.discovery import discover

    found = discover(config.plugin_folders(), disabled=config.disabled_plugins, safe_mode=config.safe_mode)
    rows = [record.to_dict() for record in found.records]
    try:
        from studio.engine.client import EngineClient

        with EngineClient.connect(config.home, start=False) as client:
            live = {row.id: row for row in client.plugins().plugins}
    except StudioError:
        live = {}
    from studio.plugins.guard.sandbox import protection_for

    for row, record in zip(rows, found.records):
        engine_row = live.get(row["id"])
        if engine_row and engine_row.state == "failed" and row["state"] == "enabled":
            row.update(state="failed", error=engine_row.error, traceback=engine_row.traceback)
        row["protection"] = protection_for(record).to_dict()
    return rows


def _print_plugin_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("no plugins found")
        return
    width = max(len(row["id"]) for row in rows)
    for row in rows:
        generators = ", ".join(g["id"] for g in row.get("generators", []))
        line = f"{row['id']:<{width}}  {row.get('version') or '-':<8}  {row['state']:<12}  {row['source']:<11}  {generators}"
        print(line.rstrip())
        if row.get("protection") and row["source"] != "first-party":
            print(f"{'':<{width}}  protection: {row['protection']['summary']}")
        if row.get("error"):
            print(f"{'':<{width}}  ↳ {row['error']}")


TRAIN = "train"
PATH_OPTIONS = ("--data",)  # options whose folder value is uploaded for the engine


def _train(args: argparse.Namespace) -> int:
    """``train PLUGIN …``: the plugin's ``train`` command as an engine job, waited for here.

    Progress goes to a bar on stderr, the trainer's log lines as they come, Ctrl+C cancels
    the job (the trainer leaves a checkpoint). A ``--data FOLDER`` is uploaded file by file,
    so a remote engine (``STUDIO_ENGINE_URL`` + ``STUDIO_ENGINE_TOKEN``) trains on this
    machine's files.
    """
    rest = list(args.rest)
    client = _engine_client(args)
    with client:
        plugin_id = _plugin_with_command(client.plugins().plugins, args.plugin, TRAIN)
        command_args = _upload_folders(client, rest)
        progress = _ProgressBar(enabled=sys.stderr.isatty())

        def show(event: dict[str, Any]) -> None:
            if event.get("type") == "preview" and event.get("text"):
                progress.finish()
                sys.stderr.write(str(event["text"]))
                sys.stderr.flush()
                progress.shown = False
            progress.update(event)

        job = client.run_command(plugin_id, TRAIN, command_args, on_event=show)
        progress.finish()
    if job["state"] == "cancelled":
        raise StudioError("training was cancelled; run the same command again to resume from its checkpoint")
    if job["state"] != "done":
        raise StudioError(job.get("error") or "training failed")
    record = job.get("record") or {}
    if record.get("message"):
        print(record["message"], file=sys.stderr)
    for path in record.get("models") or []:
        print(path)
    return EXIT_OK


def _plugin_with_command(rows: list[PluginEntry], wanted: str, command: str) -> str:
    """The plugin id for ``wanted`` (an id, or the last part of one) that offers ``command``."""
    offering = [row.id for row in rows if any(c.id == command for c in row.commands) and row.state == "enabled"]
    exact = [plugin_id for plugin_id in offering if plugin_id == wanted]
    if exact:
        return exact[0]
    short = [plugin_id for plugin_id in offering if plugin_id.rsplit(".", 1)[-1] == wanted]
    if len(short) == 1:
        return short[0]
    known = ", ".join(sorted(offering)) or "none"
    if len(short) > 1:
        raise StudioError(f"{wanted!r} could mean {', '.join(sorted(short))}; name the plugin id")
    raise StudioError(f"no enabled plugin {wanted!r} offers `{command}`; plugins that do: {known}")


def _upload_folders(client: Any, args: list[str]) -> list[str]:
    """``--data FOLDER`` → ``--data @artifacts:ID,…`` (each file uploaded; see studio.engine.commands)."""
    from studio.core.artifacts import kind_for_path

    out = list(args)
    for index, arg in enumerate(args[:-1]):
        if arg not in PATH_OPTIONS:
            continue
        folder = Path(args[index + 1]).expanduser()
        if not folder.is_dir():
            raise StudioError(f"{arg}: {folder} is not a folder")
        ids = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            try:
                kind, mime = kind_for_path(path.name)
            except ValueError:
                continue  # not a file the engine stores (a README, say)
            ids.append(client.upload(path.read_bytes(), kind=kind, mime=mime))
        if not ids:
            raise StudioError(f"{arg}: {folder} holds no file the trainer can read (MIDI, images, audio, text)")
        out[index + 1] = "@artifacts:" + ",".join(ids)
    return out


class _ProgressBar:
    """A one-line progress bar on stderr for interactive terminals."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def update(self, event: dict[str, Any]) -> None:
        if not self.enabled or event.get("type") != "progress":
            return
        fraction = float(event.get("progress", 0.0))
        filled = int(fraction * 30)
        message = str(event.get("message", ""))[:40]
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction * 100:5.1f}% {message:<40}")
        sys.stderr.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
