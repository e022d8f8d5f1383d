"""Reaching an engine on another machine: connection strings, token files, what to print.

A remote engine is named by its URL and its bearer token. They travel as

- a *connection string* ``URL#token=TOKEN`` (one thing to paste; keep it out of shell
  history and process lists: prefer the file or the environment),
- a *connection file*: the engine writes ``remote.json`` (mode 0600) next to ``engine.json``
  with the URL other machines use and the token; copy it and pass ``--engine-token-file``
  (``engine.json`` itself works too, and a file holding only the token),
- the environment: ``STUDIO_ENGINE_URL`` plus ``STUDIO_ENGINE_TOKEN`` or
  ``STUDIO_ENGINE_TOKEN_FILE``, for scripts,
- a short *pairing code* (``K7QM-4XPD``, see ``studio.engine.pairing``) traded once for the
  token over ``POST /pair``; the CLI then remembers the token in
  ``STUDIO_HOME/paired-engines.json`` (0600), so later commands need only ``--engine URL``.

Light on purpose (the window imports it through the client): no server code here.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from studio.core.errors import StudioError

REMOTE_FILE = "remote.json"
PAIRED_FILE = "paired-engines.json"


class EngineAddressError(StudioError):
    """An engine URL, token or connection file that cannot be used; the message says why."""


@dataclass(frozen=True)
class EngineAddress:
    url: str
    token: str


def connection_string(url: str, token: str) -> str:
    return f"{url.rstrip('/')}#token={token}"


def split_connection_string(text: str) -> tuple[str, str | None]:
    """``URL`` or ``URL#token=TOKEN`` → (url, token or None); a bad URL is an error."""
    text = text.strip()
    url, _, fragment = text.partition("#")
    token = fragment[len("token=") :] if fragment.startswith("token=") else None
    check_url(url)
    return url.rstrip("/"), token or None


def check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise EngineAddressError(f"{url!r} is not an engine URL ({exc}); expected e.g. http://studio-gpu:8188") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EngineAddressError(f"{url!r} is not an engine URL; expected http://HOST:PORT or https://HOST:PORT")


def read_token_file(path: str | Path) -> tuple[str | None, str]:
    """(url or None, token) from ``remote.json``/``engine.json`` or a file holding the token."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise EngineAddressError(f"{path}: cannot read the engine token file: {exc.strerror or exc}") from None
    if text.startswith("{"):
        try:
            data = json.loads(text)
            token = str(data["token"])
        except (ValueError, KeyError, TypeError):
            raise EngineAddressError(f"{path}: not an engine connection file (expected JSON with 'url' and 'token')") from None
        url = data.get("url")
        return (str(url) if url else None), token
    if not text or any(ch.isspace() for ch in text):
        raise EngineAddressError(f"{path}: expected the engine's token (one word) or its remote.json")
    return None, text


def pair(url: str, code: str, timeout: float = 15.0) -> EngineAddress:
    """Trade a pairing code for the engine's token (``POST /pair``); refused: a clear error."""
    import httpx

    url, _ = split_connection_string(url)
    verify: Any = True
    if os.environ.get("STUDIO_ENGINE_CA"):
        from studio.engine.client import _ssl_context

        verify = _ssl_context(os.environ["STUDIO_ENGINE_CA"])
    try:
        response = httpx.post(
            f"{url}/pair", json={"code": code, "client": socket.gethostname()}, timeout=timeout, trust_env=False, verify=verify
        )
    except httpx.HTTPError as exc:
        raise EngineAddressError(f"cannot reach the engine at {url} to pair: {exc}") from None
    if response.status_code != 200:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = None
        if response.status_code == 404:
            detail = "this engine does not take pairing codes (an older version?); use its token instead"
        raise EngineAddressError(f"pairing with {url} refused: {detail or response.status_code}")
    token = str(response.json().get("token") or "")
    if not token:
        raise EngineAddressError(f"the engine at {url} answered the pairing without a token")
    return EngineAddress(url=url, token=token)


def remember_pairing(home: Path, address: EngineAddress) -> Path:
    """Keep a paired engine's token for later commands (``paired-engines.json``, mode 0600)."""
    from studio.core.atomic_files import write_json_atomic

    path = Path(home) / PAIRED_FILE
    known = _paired(home)
    known[address.url] = address.token
    write_json_atomic(path, known, mode=0o600)
    return path


def paired_token(home: Path, url: str) -> str | None:
    return _paired(home).get(url.rstrip("/"))


def _paired(home: Path) -> dict[str, str]:
    try:
        data = json.loads((Path(home) / PAIRED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def resolve_address(
    engine: str | None = None, token_file: str | Path | None = None, pair_code: str | None = None, home: Path | None = None
) -> EngineAddress | None:
    """The remote engine named on the command line or in the environment; None: the local one.

    URL: ``engine`` (``--engine``), else ``STUDIO_ENGINE_URL``, else the URL in the token file.
    Token: ``token_file`` (``--engine-token-file``), ``STUDIO_ENGINE_TOKEN``,
    ``STUDIO_ENGINE_TOKEN_FILE``, the connection string's ``#token=``, or one remembered from
    an earlier pairing in ``home``. ``pair_code`` (``--pair``): trade it for the token first
    and remember it.
    """
    token_file = token_file or os.environ.get("STUDIO_ENGINE_TOKEN_FILE") or None
    url = engine or os.environ.get("STUDIO_ENGINE_URL") or None
    file_url, file_token = read_token_file(token_file) if token_file else (None, None)
    if url is None and file_url is None:
        return None
    inline_token = None
    if url is not None:
        url, inline_token = split_connection_string(url)
    else:
        url, _ = split_connection_string(str(file_url))
    if pair_code:
        address = pair(url, pair_code)
        if home is not None:
            remember_pairing(home, address)
        return address
    token = file_token or os.environ.get("STUDIO_ENGINE_TOKEN") or inline_token
    if not token and home is not None:
        token = paired_token(home, url)
    if not token:
        raise EngineAddressError(
            f"the engine at {url} needs its token: pass --pair CODE (the code it printed), --engine-token-file "
            "(its remote.json or engine.json), or set STUDIO_ENGINE_TOKEN"
        )
    return EngineAddress(url=url, token=token)


# --------------------------------------------------------------------------- engine side


def reachable_urls(url: str) -> list[str]:
    """The URLs other machines can use for an engine listening on ``url``: an engine bound
    to every interface (0.0.0.0, ::) is reached by this machine's name and addresses."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host not in ("0.0.0.0", "::"):
        return [url]
    names = [socket.getfqdn(), socket.gethostname()]
    try:
        import psutil

        for addresses in psutil.net_if_addrs().values():
            for address in addresses:
                if address.family == socket.AF_INET and not address.address.startswith("127."):
                    names.append(address.address)
    except Exception:
        pass
    unique = list(dict.fromkeys(name for name in names if name))
    return [f"{parts.scheme}://{name}:{parts.port}" for name in unique] or [url]


def write_remote_file(home_engine_file: Path, url: str, token: str) -> Path:
    """``remote.json`` beside ``engine.json``: the file to copy to another machine."""
    from studio.core.atomic_files import write_json_atomic

    path = home_engine_file.with_name(REMOTE_FILE)
    write_json_atomic(path, {"url": url, "token": token, "urls": reachable_urls(url)}, mode=0o600)
    return path


def connection_instructions(url: str, token: str, remote_file: Path, pair_code: str = "", pair_ttl: float = 0.0) -> str:
    """What ``python main.py engine`` prints so another machine can connect."""
    urls = reachable_urls(url)
    first = urls[0]
    lines = [
        f"studio engine listening on {url}",
        "connect from another machine with one of:",
    ]
    if pair_code:
        lines += [
            f"  pairing code {pair_code} (single use, valid {pair_ttl / 60:g} min; a new one: python main.py engine-pair)",
            f"    window: Preferences > Engine > remote, URL {first}, code {pair_code}, Connect",
            f"    CLI: python main.py generate --engine {first} --pair {pair_code} ...",
        ]
    lines += [
        f"  copy {remote_file} there and run: python main.py generate --engine {first} --engine-token-file remote.json ...",
        f"  STUDIO_ENGINE_URL={first} STUDIO_ENGINE_TOKEN=<token from {remote_file}>",
        f"  connection string (window: Preferences > Engine > remote): {connection_string(first, token)}",
    ]
    if len(urls) > 1:
        lines.append(f"  other addresses of this machine: {', '.join(urls[1:])}")
    return "\n".join(lines)
