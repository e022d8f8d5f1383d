"""A real HTTP server on 127.0.0.1 for the plugin-index tests, and small publishing helpers.

The server serves a folder like ``python -m http.server`` does, plus what the tests need to
misbehave on purpose: HTTP ``Range`` requests (to resume), a file that stalls after some
bytes (once, or always), a server that ignores ``Range`` (to restart cleanly), and a log of
the requests it answered.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "pixelsort"
sys.path.insert(0, str(REPO / "tests" / "plugins_community"))

from community_helpers import make_plugin, studio  # noqa: E402,F401


class IndexServer:
    """Serves ``root`` on 127.0.0.1 in a thread; a context manager."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.stall_after: dict[str, int] = {}  # file name -> bytes sent before stalling
        self.stall_times: dict[str, int] = {}  # how many requests stall (default: all)
        self.ignore_range = False
        self.requests: list[tuple[str, str]] = []  # (path, Range header or "")
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                name = self.path.split("?")[0].lstrip("/")
                server.requests.append((name, self.headers.get("Range", "")))
                path = (server.root / name).resolve()
                if server.root.resolve() not in path.parents or not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start = 0
                wanted = self.headers.get("Range", "")
                if wanted.startswith("bytes=") and not server.ignore_range:
                    start = int(wanted[6:].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                stall = server.stall_after.get(name)
                times = server.stall_times.get(name)
                if stall is not None and (times is None or times > 0):
                    if times is not None:
                        server.stall_times[name] = times - 1
                    self.wfile.write(body[:stall])
                    self.wfile.flush()
                    server._release.wait(30)  # hang mid-transfer until the test ends
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="index-server", daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def url(self, name: str = "index.json") -> str:
        return self.base + name

    def __enter__(self) -> IndexServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def example_folder(tmp: Path, version: str = "1.0.0", *, broken: bool = False) -> Path:
    """A copy of examples/pixelsort at ``version`` (``broken``: its import fails)."""
    folder = tmp / f"pixelsort-src-{version}"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    toml = folder / "plugin.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('version = "1.0.0"', f'version = "{version}"'), encoding="utf-8")
    if broken:
        init = folder / "pixelsort" / "sorting.py"
        init.write_text(init.read_text(encoding="utf-8") + "\nraise ImportError('this release is broken on purpose')\n", encoding="utf-8")
    return folder


def small_plugin(
    tmp: Path, plugin_id: str = "acme.glow", version: str = "1.0.0", *, permissions: list[str] | None = None, description: str = ""
) -> Path:
    folder = make_plugin(tmp / f"{plugin_id}-{version}-src", plugin_id=plugin_id, version=version, permissions=permissions)
    if description:
        toml = folder / "plugin.toml"
        toml.write_text(
            toml.read_text(encoding="utf-8").replace('author = "Tests"', f'author = "Tests"\ndescription = "{description}"'),
            encoding="utf-8",
        )
    return folder


def dedent(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


class Publisher:
    """A folder of archives that becomes a signed index, as an author would publish it."""

    def __init__(self, folder: Path, key_path: Path | None = None) -> None:
        from studio.plugins.index.signing import generate_key

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.key = generate_key(key_path or self.folder.parent / f"{self.folder.name}.key")

    def add(self, plugin_folder: Path, *, author_key: object | None = None) -> Path:
        """Pack a plugin folder into the index folder; ``author_key`` signs it as its author."""
        from studio.plugins.archive import pack_folder
        from studio.plugins.index.publish import sign_archive
        from studio.plugins.manifest import read_manifest

        manifest = read_manifest(plugin_folder)
        archive, _digest = pack_folder(plugin_folder, out=self.folder / f"{manifest.plugin.id}-{manifest.plugin.version}.zip")
        if author_key is not None:
            sign_archive(archive, author_key)
        return archive

    def build(self, name: str = "Test index", **kwargs: object) -> Path:
        from studio.plugins.index.publish import build_index

        path, _signed = build_index(self.folder, self.key, name=name, **kwargs)
        return path
