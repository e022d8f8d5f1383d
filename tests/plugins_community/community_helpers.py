"""Helpers for the community-plugin tests: plugin folders, crafted archives, wheels, the CLI."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import stat
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

from studio.core.paths import HomeLayout

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "pixelsort"


# --------------------------------------------------------------------------- the CLI


def studio(home: Path, *args: str, timeout: float = 240, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python main.py ARGS`` with STUDIO_HOME=home, as a user would."""
    full_env = dict(os.environ, STUDIO_HOME=str(home), HF_HUB_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=str(home),
        stdin=subprocess.DEVNULL,
    )


def stop_engine(home: Path, timeout: float = 30.0) -> None:
    """Shut down the engine of ``home`` (if one runs) and wait until it is gone."""
    from studio.engine.client import EngineClient, EngineError, read_connection

    connection = read_connection(home)
    with contextlib.suppress(EngineError):
        EngineClient.connect(home, start=False).shutdown()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not HomeLayout(home).engine_file.exists():
            break
        time.sleep(0.1)
    if connection is not None and connection.pid:
        while time.monotonic() < deadline and _alive(connection.pid):
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    """True while the process runs (a zombie nobody has reaped yet counts as gone)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


# --------------------------------------------------------------------------- plugin folders

IMAGE_GENERATOR = """
import numpy as np
from PIL import Image
from studio.plugins.api import Generator, ImageOutput

class Gen(Generator):
    def generate(self, request, ctx):
        {body}
        return [ImageOutput(image=Image.fromarray(np.full((8, 8, 3), 128, np.uint8), "RGB"))]
"""


def make_plugin(
    folder: Path,
    *,
    plugin_id: str = "acme.thing",
    version: str = "1.0.0",
    package: str | None = None,
    api: str = ">=1,<2",
    permissions: list[str] | None = None,
    dependencies: list[str] | None = None,
    generators: dict[str, str] | None = None,
    module_prelude: str = "",
) -> Path:
    """Write a small plugin folder. ``generators`` maps generator id → body of generate()."""
    package = package or plugin_id.split(".")[-1].replace("-", "_")
    generators = generators or {plugin_id: "pass"}
    folder.mkdir(parents=True, exist_ok=True)
    toml = textwrap.dedent(
        f"""
        [plugin]
        id = "{plugin_id}"
        name = "Test plugin {plugin_id}"
        version = "{version}"
        api = "{api}"
        author = "Tests"
        permissions = {list(permissions or [])!r}
        dependencies = {list(dependencies or [])!r}
        """
    ).replace("'", '"')
    module_lines = [module_prelude]
    for index, (generator_id, body) in enumerate(generators.items()):
        toml += textwrap.dedent(
            f"""
            [[generators]]
            id = "{generator_id}"
            kind = "image"
            entry = "{package}.gen:Gen{index}"
            """
        )
        code = IMAGE_GENERATOR.replace("class Gen(", f"class Gen{index}(").replace(
            "{body}", textwrap.indent(textwrap.dedent(body), " " * 8).strip()
        )
        module_lines.append(code)
    (folder / "plugin.toml").write_text(toml, encoding="utf-8")
    (folder / package).mkdir(exist_ok=True)
    (folder / package / "__init__.py").write_text("", encoding="utf-8")
    (folder / package / "gen.py").write_text("\n".join(module_lines), encoding="utf-8")
    return folder


def zip_folder(folder: Path, out: Path, *, extra: list[tuple[str, bytes, int]] | None = None) -> Path:
    """Zip a folder (members at the top), plus crafted extra members (name, data, unix mode)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(folder).as_posix())
        for name, data, mode in extra or []:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out


def build_wheel(dest: Path, name: str, version: str, *, requires: list[str] = (), files: dict[str, str] | None = None) -> Path:
    """A minimal, valid pure-Python wheel, written by hand (no build tools, no network)."""
    dest.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}.dist-info"
    contents = dict(files or {f"{name}/__init__.py": f"VERSION = {version!r}\n"})
    contents[f"{dist}/METADATA"] = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s" % (
        name,
        version,
        "".join(f"Requires-Dist: {r}\n" for r in requires),
    )
    contents[f"{dist}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    contents[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    path = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in contents.items():
            archive.writestr(member, text)
    return path


REGULAR = stat.S_IFREG | 0o644
