"""The command line: ``python main.py [command]`` (also installed as ``studio``).

Arguments are parsed inside ``main`` only, never at import. Every failure a user can cause
(unknown plugin, bad parameter, unreadable file, engine that will not start) ends with a
one-line reason on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from studio.core.errors import StudioError
from studio.core.logs import configure_logging
from studio.core.paths import HomeLayout

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

    generate = commands.add_parser("generate", help="run one generation and write its output(s)")
    generate.add_argument("plugin", metavar="PLUGIN_ID")
    generate.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE", help="a parameter; VALUE '@file' reads a file (image, MIDI, text)")
    generate.add_argument("--seed", type=int, default=None)
    generate.add_argument("--out", "-o", type=Path, required=True, metavar="PATH")
    generate.add_argument("--timeout", type=float, default=None, help="cancel the job after this many seconds")
    generate.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    inspect = commands.add_parser("inspect", help="print the generation parameters stored in a PNG, MIDI, audio or project file")
    inspect.add_argument("file", type=Path)

    plugins = commands.add_parser("plugins", help="list and manage plugins")
    plugin_commands = plugins.add_subparsers(dest="plugins_command", metavar="ACTION", required=True)
    listing = plugin_commands.add_parser("list", help="every plugin found, with its state")
    listing.add_argument("--json", action="store_true")
    for name, text in (("enable", "enable a plugin"), ("disable", "disable a plugin")):
        sub = plugin_commands.add_parser(name, help=text)
        sub.add_argument("id")

    train = commands.add_parser("train", help="train a built-in model")
    train.add_argument("model", choices=["melody"])
    train.add_argument("rest", nargs=argparse.REMAINDER, help="options for the trainer (see `train melody --help`)")

    screenshot = commands.add_parser("screenshot", help="render the main window off-screen to a PNG and exit")
    screenshot.add_argument("--out", type=Path, required=True)
    screenshot.add_argument("--project", type=Path, dest="screenshot_project")
    screenshot.add_argument("--size", default="1600x1000", metavar="WxH")

    _extend_parser(commands, plugin_commands)
    return parser


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
        print(f"error: the desktop window is not available ({exc}); try `python main.py generate studio.patterns --out art.png`", file=sys.stderr)
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
    from studio.engine.server import Engine

    config = EngineConfig.from_environment(safe_mode=args.safe_mode or args.engine_safe_mode, host=args.host, port=args.port)
    configure_logging(HomeLayout(config.home).logs_dir, "engine")
    engine = Engine(config)
    url = engine.bind()
    print(f"studio engine listening on {url} (token in {engine.layout.engine_file})", file=sys.stderr, flush=True)
    engine.serve()
    return EXIT_OK


def _generate(args: argparse.Namespace) -> int:
    from studio.engine.client import EngineClient

    raw = _parse_params(args.param)
    client = EngineClient.connect(safe_mode=args.safe_mode)
    with client:
        generators = {g["id"]: g for g in client.plugins()["generators"]}
        generator = generators.get(args.plugin)
        if generator is None:
            known = ", ".join(sorted(generators)) or "none"
            raise StudioError(f"unknown generator {args.plugin!r}; available: {known}")
        params = _resolve_file_values(client, generator, raw)
        progress = _ProgressBar(enabled=not args.quiet and sys.stderr.isatty())
        job = client.run(args.plugin, params, args.seed, on_event=progress.update, timeout=args.timeout)
        progress.finish()
        if job["state"] == "failed":
            raise StudioError(job.get("error") or "the job failed")
        if job["state"] == "cancelled":
            raise StudioError("the job was cancelled")
        paths = _write_outputs(client, job, args.out)
    for path in paths:
        print(path)
    return EXIT_OK


def _parse_params(items: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise StudioError(f"--param takes NAME=VALUE, got {item!r}")
        params[name.strip()] = value
    return params


def _resolve_file_values(client: Any, generator: dict[str, Any], raw: dict[str, str]) -> dict[str, Any]:
    """Read ``@file`` values: upload inputs (image, MIDI, audio), inline text files."""
    from studio.core.artifacts import kind_for_path
    from studio.core.params import ARTIFACT_PARAM_TYPES

    types = {param["name"]: param["type"] for param in generator["params"]}
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


def _write_outputs(client: Any, job: dict[str, Any], out: Path) -> list[Path]:
    from studio.core.artifacts import EXTENSION_BY_MIME

    artifacts = job.get("artifacts") or [{"id": artifact_id} for artifact_id in job["outputs"]]
    out = out.expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, artifact in enumerate(artifacts, start=1):
        data, mime = client.artifact(artifact["id"])
        extension = EXTENSION_BY_MIME.get(mime.split(";")[0].strip(), EXTENSION_BY_MIME.get(mime, ""))
        target = out if out.suffix else out.with_suffix(extension)
        if len(artifacts) > 1:
            target = target.with_name(f"{target.stem}-{index}{target.suffix}")
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_bytes(data)
        tmp.replace(target)
        paths.append(target)
    return paths


def _inspect(args: argparse.Namespace) -> int:
    from studio.core.inspect_file import inspect_path

    if not args.file.exists():
        raise StudioError(f"{args.file}: no such file")
    print(json.dumps(inspect_path(args.file), indent=2, sort_keys=False, default=str))
    return EXIT_OK


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
            live = {row["id"]: row for row in client.plugins()["plugins"]}
    except StudioError:
        live = {}
    from studio.plugins.guard.sandbox import protection_for

    for row, record in zip(rows, found.records):
        engine_row = live.get(row["id"])
        if engine_row and engine_row["state"] == "failed" and row["state"] == "enabled":
            row.update(state="failed", error=engine_row["error"], traceback=engine_row["traceback"])
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


def _train(args: argparse.Namespace) -> int:
    from studio.engine.config import EngineConfig
    from studio.plugins.discovery import discover

    config = EngineConfig.from_environment()
    found = discover(config.plugin_folders())
    record = found.plugin("studio.melody")
    if record is None or record.manifest is None:
        raise StudioError("the melody plugin (studio.melody) is not installed or failed to load; see `plugins list`")
    folder = str(record.folder.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    from studio_melody.train import cli_main  # type: ignore[import-not-found]

    return int(cli_main(list(args.rest)))


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
