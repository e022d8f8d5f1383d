"""Bounded transfers from an index: the index file itself, and plugin archives.

A location is an ``https://`` URL, an ``http://`` URL on this computer only (127.0.0.1, ::1,
localhost: a test server or a local mirror; anything else over plain HTTP could be changed on
the way, and although signatures would catch that, a user's searches would still leak), a
``file://`` URL or a folder path. Redirects are followed by hand, at most five, and every hop
is held to the same rule.

Every transfer has a byte limit (the index's size limit, or the archive's size as the signed
index states it), a stall timeout (no byte for that long ends it) and an overall deadline.
Archives stream into ``<name>.part`` next to their destination: a transfer that stalls or
drops keeps the part, and the next attempt asks the server for the rest (HTTP ``Range``)
and starts again cleanly when the server does not support that. Anything over the size is
deleted at once. The complete file only appears (by rename) when every byte is there.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import httpx

from studio.plugins.index.errors import DownloadError, IntegrityError

Progress = Callable[[int, int], None]  # (bytes so far, bytes expected)
MAX_REDIRECTS = 5
_CHUNK = 1 << 16
_USER_AGENT = "studio-plugin-index/1"


@dataclass(frozen=True)
class TransferLimits:
    """How much, and how long, one transfer may take."""

    max_bytes: int
    stall_timeout: float = 30.0  # seconds without a byte
    total_timeout: float = 1800.0  # seconds for the whole transfer


def is_remote(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def local_path(location: str) -> Path:
    if location.startswith("file://"):
        return Path(unquote(urlparse(location).path))
    return Path(location).expanduser()


def resolve_location(base: str, reference: str) -> str:
    """An archive's location: ``reference`` as is when absolute, else relative to the index."""
    if is_remote(reference):
        return reference
    if reference.startswith("file://"):
        if is_remote(base):  # a web index may not point the studio at files on this computer
            raise DownloadError(f"{reference}: an index on the web can only name https:// archives")
        return reference
    if "://" in reference:
        scheme = reference.split("://", 1)[0]
        raise DownloadError(f"{reference}: {scheme}:// is not a way the studio downloads plugins; use https://")
    if is_remote(base):
        return urljoin(base, reference)
    root = local_path(base)
    folder = root.parent if root.suffix == ".json" or root.is_file() else root
    target = (folder / unquote(reference)).resolve()
    if folder.resolve() not in target.parents:
        raise DownloadError(f"{reference}: an archive of a folder index must lie inside that folder ({folder})")
    return str(target)


def check_url(url: str) -> None:
    """Refuse a URL the studio does not download from, naming why."""
    parsed = urlparse(url)
    if parsed.scheme == "https" and parsed.hostname:
        return
    if parsed.scheme == "http" and parsed.hostname:
        host = parsed.hostname
        if host == "localhost":
            return
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
        raise DownloadError(f"{url}: plain http:// is allowed only on this computer (127.0.0.1); use https:// for {host}")
    raise DownloadError(f"{url}: not an https:// address")


def index_file_path(location: str) -> Path:
    """A folder index names its folder or its index.json; either reads the same file."""
    path = local_path(location)
    return path / "index.json" if path.is_dir() else path


# --------------------------------------------------------------------------- whole files (the index)


def fetch_bytes(location: str, limits: TransferLimits, *, what: str = "index") -> bytes:
    """Read a whole (small) file: the index. Refused when larger than ``limits.max_bytes``."""
    if not is_remote(location):
        path = index_file_path(location)
        try:
            size = path.stat().st_size
            if size > limits.max_bytes:
                raise DownloadError(f"{what} {path} is {_size(size)}, larger than the limit of {_size(limits.max_bytes)}; refused")
            return path.read_bytes()
        except OSError as exc:
            raise DownloadError(f"{what} {path}: {exc.strerror or exc}") from None
    deadline = time.monotonic() + limits.total_timeout
    chunks: list[bytes] = []
    received = 0
    with _client(limits) as client, _open(client, location, {}, what) as response:
        if response.status_code != 200:
            raise DownloadError(f"{what} {location}: the server answered HTTP {response.status_code}")
        declared = _content_length(response)
        if declared is not None and declared > limits.max_bytes:
            raise DownloadError(f"{what} {location} is {_size(declared)}, larger than the limit of {_size(limits.max_bytes)}; refused")
        try:
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > limits.max_bytes:
                    raise DownloadError(f"{what} {location} is larger than the limit of {_size(limits.max_bytes)}; refused")
                if time.monotonic() > deadline:
                    raise DownloadError(f"{what} {location}: took longer than {limits.total_timeout:.0f}s; gave up")
                chunks.append(chunk)
        except httpx.TimeoutException:
            raise DownloadError(
                f"{what} {location}: the server stopped sending (nothing for {limits.stall_timeout:g}s); try again later"
            ) from None
        except httpx.HTTPError as exc:
            raise DownloadError(f"{what} {location}: the transfer failed ({exc})") from None
    return b"".join(chunks)


# --------------------------------------------------------------------------- archives


def download_file(  # noqa: C901
    location: str,
    destination: Path,
    *,
    size: int,
    limits: TransferLimits,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Path:
    """Transfer exactly ``size`` bytes to ``destination``; resume a ``.part`` left by a failed try.

    Raises IntegrityError when the source has more (or, complete, fewer) bytes than ``size``,
    and DownloadError for refusals, HTTP errors, stalls and the deadline.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if size > limits.max_bytes:
        raise DownloadError(f"{destination.name} is {_size(size)}, larger than the download limit of {_size(limits.max_bytes)}; refused")
    part = destination.with_name(destination.name + ".part")
    report = progress or (lambda done, total: None)
    if not is_remote(location):
        return _copy_local(location, destination, part, size, report)

    for attempt in range(2):  # a second go only after a refused Range (HTTP 416)
        offset = part.stat().st_size if part.exists() else 0
        if offset > size:
            part.unlink()
            offset = 0
        if offset == size:
            os.replace(part, destination)
            report(size, size)
            return destination
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        deadline = time.monotonic() + limits.total_timeout
        with _client(limits) as client, _open(client, location, headers, destination.name) as response:
            if response.status_code == 416 and offset and attempt == 0:
                part.unlink(missing_ok=True)
                continue
            if response.status_code == 206 and offset and _range_start(response) == offset:
                mode = "ab"
            elif response.status_code == 200:
                offset, mode = 0, "wb"  # no resume from this server: start again cleanly
            else:
                raise DownloadError(f"{location}: the server answered HTTP {response.status_code}")
            declared = _content_length(response)
            if declared is not None and offset + declared > size:
                part.unlink(missing_ok=True)
                raise IntegrityError(
                    f"{destination.name}: the server sends {_size(offset + declared)}, but the signed index says the archive has {size} bytes; refused"
                )
            done = offset
            report(done, size)
            try:
                with open(part, mode) as handle:
                    for chunk in response.iter_bytes():
                        done += len(chunk)
                        if done > size:
                            handle.close()
                            part.unlink(missing_ok=True)
                            raise IntegrityError(
                                f"{destination.name}: the server sent more than the {size} bytes the signed index states; refused and deleted"
                            )
                        handle.write(chunk)
                        report(done, size)
                        if cancelled is not None and cancelled():
                            raise DownloadError(f"{destination.name}: download cancelled ({_size(done)} of {_size(size)} kept to resume)")
                        if time.monotonic() > deadline:
                            raise DownloadError(
                                f"{destination.name}: the download took longer than {limits.total_timeout:.0f}s; run it again to resume"
                            )
            except httpx.TimeoutException:
                raise DownloadError(
                    f"{destination.name}: the server stopped sending after {_size(done)} of {_size(size)} (nothing for {limits.stall_timeout:g}s); "
                    "run the command again to resume"
                ) from None
            except httpx.HTTPError as exc:
                raise DownloadError(
                    f"{destination.name}: the transfer broke off after {_size(done)} of {_size(size)} ({exc}); run the command again to resume"
                ) from None
        if done < size:
            raise DownloadError(
                f"{destination.name}: the server ended the transfer after {_size(done)} of {_size(size)}; run the command again to resume"
            )
        os.replace(part, destination)
        return destination
    raise DownloadError(f"{location}: the server refused to resume or restart the download")


def _copy_local(location: str, destination: Path, part: Path, size: int, report: Progress) -> Path:
    source = local_path(location)
    try:
        actual = source.stat().st_size
    except OSError as exc:
        raise DownloadError(f"{source}: {exc.strerror or exc}") from None
    if actual != size:
        raise IntegrityError(f"{source.name}: the file has {actual} bytes, but the signed index says {size}; refused")
    with open(source, "rb") as reader, open(part, "wb") as writer:
        shutil.copyfileobj(reader, writer, _CHUNK)
    os.replace(part, destination)
    report(size, size)
    return destination


# --------------------------------------------------------------------------- HTTP details


def _client(limits: TransferLimits) -> httpx.Client:
    timeout = httpx.Timeout(limits.stall_timeout, connect=min(limits.stall_timeout, 15.0))
    # trust_env=False: no proxy or netrc from the environment changes where a plugin comes from.
    # identity encoding: byte counts, sizes and Range offsets all mean the file's own bytes.
    return httpx.Client(
        timeout=timeout, follow_redirects=False, trust_env=False, headers={"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    )


class _open:
    """GET with redirects followed by hand, each hop checked; a context manager for the response."""

    def __init__(self, client: httpx.Client, url: str, headers: dict[str, str], what: str) -> None:
        self.client, self.url, self.headers, self.what = client, url, headers, what
        self.response: httpx.Response | None = None

    def __enter__(self) -> httpx.Response:
        url = self.url
        for _hop in range(MAX_REDIRECTS + 1):
            check_url(url)
            try:
                response = self.client.send(self.client.build_request("GET", url, headers=self.headers), stream=True)
            except httpx.TimeoutException:
                raise DownloadError(f"{self.what}: {url} did not answer in time") from None
            except httpx.HTTPError as exc:
                raise DownloadError(f"{self.what}: cannot reach {url} ({exc})") from None
            if response.is_redirect and "location" in response.headers:
                response.close()
                url = urljoin(url, response.headers["location"])
                continue
            self.response = response
            return response
        raise DownloadError(f"{self.what}: {self.url} redirects more than {MAX_REDIRECTS} times")

    def __exit__(self, *exc: object) -> None:
        if self.response is not None:
            self.response.close()


def _content_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _range_start(response: httpx.Response) -> int | None:
    value = response.headers.get("content-range", "")  # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 2**20:
        return f"{count / 1024:.1f} KiB"
    return f"{count / 2**20:.1f} MiB"
