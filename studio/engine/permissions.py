"""Declared permissions, enforced where Python lets us: defence in depth, not a sandbox.

A community plugin declares what it needs in ``plugin.toml`` (``permissions = ["network"]``).
While its code runs in the engine's worker (import, construction, ``generate``), an audit
hook (PEP 578, ``sys.addaudithook``) refuses, for a plugin that did not declare them:

- ``network``: socket connects, binds, datagram sends and host-name look-ups;
- ``subprocess``: ``subprocess``, ``os.system``, ``os.exec*``, ``os.spawn*``,
  ``os.posix_spawn``, ``os.fork``, ``pty``, multiprocessing's own launcher, signalling other
  processes, and looking up libc's process/socket functions through ``ctypes``;
- ``files``: creating, changing, moving or deleting files outside the job's scratch folder,
  the studio's cache folder, the temporary folder and the model folders (reading is allowed).

A refusal raises ``PermissionRefused`` (a ``StudioError`` and a ``PermissionError``) naming
the plugin, the action and the permission. When the plugin's own code made the attempt, the
refusal fails the job even if the plugin catches the error, so the user always hears about
it; when a library it uses made it (urllib3 binds a socket to probe for IPv6, matplotlib runs
``fc-list``; both carry on when refused), the library gets the error and the refusal is noted
in the job's log. Threads the plugin starts while it runs stay under its permissions.

What this is not: Python code in the same process can defeat an audit hook (by changing
this module's state, by native code in a C extension, through ``ctypes`` calls this hook does
not recognise). It catches honest mistakes and lazy malware; it does not contain a determined
attacker. Only install plugins you trust. First-party plugins are not restricted.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import sys
import sysconfig
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from studio.core.errors import StudioError

NETWORK, SUBPROCESS, FILES = "network", "subprocess", "files"
GUARDED_PERMISSIONS = (NETWORK, SUBPROCESS, FILES)

_NETWORK_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.bind",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
        "urllib.Request",
    }
)
_PROCESS_EVENTS = frozenset(
    {
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.spawn",
        "os.posix_spawn",
        "os.fork",
        "os.forkpty",
        "os.startfile",
        "pty.spawn",
        "os.kill",
        "os.killpg",
        "studio.fork_exec",
    }
)
# Events that change the file system, and which of their arguments are paths.
_FILE_EVENTS: dict[str, tuple[int, ...]] = {
    "open": (0,),
    "os.mkdir": (0,),
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.rename": (0, 1),
    "os.truncate": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.chflags": (0,),
    "os.lchflags": (0,),
    "os.utime": (0,),
    "os.symlink": (1,),
    "os.link": (1,),
    "os.setxattr": (0,),
    "os.removexattr": (0,),
    "shutil.rmtree": (0,),
    "shutil.chown": (0,),
    "shutil.move": (0, 1),
}
_CTYPES_EVENTS = frozenset({"ctypes.dlsym"})
_WATCHED = _NETWORK_EVENTS | _PROCESS_EVENTS | frozenset(_FILE_EVENTS) | _CTYPES_EVENTS
# libc functions that start programs or open connections; looking them up through ctypes
# is the obvious way around the hook.
_CTYPES_PROCESS = frozenset({"system", "popen", "fork", "vfork", "posix_spawn", "posix_spawnp", "execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "fexecve", "clone", "clone3"})
_CTYPES_NETWORK = frozenset({"connect", "socket", "getaddrinfo", "gethostbyname", "sendto", "sendmsg", "bind"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

_HINT = {
    NETWORK: "it may not talk to other computers",
    SUBPROCESS: "it may not start other programs",
    FILES: "it may write only to its job's scratch folder, the studio's cache, the temporary folder and model folders",
}


class PermissionRefused(StudioError, PermissionError):
    """A plugin tried something its manifest does not declare a permission for."""

    def __init__(self, plugin_id: str, permission: str, action: str, by_plugin: bool = True) -> None:
        self.plugin_id = plugin_id
        self.permission = permission
        self.action = action
        # False when a library the plugin called made the attempt (see Guard.fatal).
        self.by_plugin = by_plugin
        super().__init__(
            f"plugin {plugin_id} tried to {action}, but it does not declare the '{permission}' permission "
            f"({_HINT[permission]}); the studio refused it. If you trust this plugin, its author must add "
            f'"{permission}" to permissions in plugin.toml and you must reinstall it.'
        )

    def __reduce__(self) -> tuple[Any, ...]:  # crosses the worker pipe intact
        return (PermissionRefused, (self.plugin_id, self.permission, self.action, self.by_plugin))


@dataclass
class Guard:
    """One stretch of a plugin's code running under its declared permissions."""

    plugin_id: str
    granted: frozenset[str]
    allowed_dirs: tuple[str, ...]
    own_dirs: tuple[str, ...]
    thread: int
    preexisting: frozenset[int]
    refusals: list[PermissionRefused] = field(default_factory=list)
    spawned: set[int] = field(default_factory=set)

    def applies_to(self, ident: int) -> bool:
        """The guarded thread, and every thread started while the guard was active."""
        if ident == self.thread:
            return True
        if ident in self.preexisting:
            return False
        self.spawned.add(ident)
        return True

    @property
    def fatal(self) -> PermissionRefused | None:
        """The first refusal of something the plugin's own code tried: it fails the job even
        when the plugin catches the error. Refusals inside libraries the plugin uses are only
        raised to the library (many probe the network or a helper program and carry on) and
        noted in the job's log."""
        for refusal in self.refusals:
            if refusal.by_plugin:
                return refusal
        return None


# Module state shared with the audit hook. Hooks cannot be removed once added, so one hook
# is installed per process and consults this state.
_state_lock = threading.RLock()
_active: list[Guard] = []
_tainted: dict[int, Guard] = {}
_reentry = threading.local()
_hook_installed = False


def guarded(manifest: Any) -> bool:
    """Whether a plugin runs under the guard: community plugins that lack a permission."""
    if getattr(manifest, "source", "user") == "first-party":
        return False
    granted = set(getattr(manifest, "permissions", ()) or ())
    return not set(GUARDED_PERMISSIONS) <= granted


def default_allowed_dirs(*, home_cache: Path | None = None, model_paths: Iterable[Path] = (), scratch: Path | None = None) -> list[Path]:
    """The folders a plugin without ``files`` may write to."""
    folders = [Path(tempfile.gettempdir())]
    if home_cache is not None:
        folders.append(Path(home_cache))
    if scratch is not None:
        folders.append(Path(scratch))
    folders.extend(Path(p) for p in model_paths)
    return folders


@contextlib.contextmanager
def plugin_permissions(
    manifest: Any,
    allowed_dirs: Iterable[Path] = (),
    *,
    log: Callable[[str], None] | None = None,
) -> Iterator[Guard | None]:
    """Run the ``with`` body under ``manifest``'s declared permissions.

    ``allowed_dirs`` are where a plugin without ``files`` may write (see
    ``default_allowed_dirs``); the plugin's own folder is allowed only its ``__pycache__``.
    Yields the Guard (or None when the plugin is not restricted: first-party, or every
    guarded permission declared). ``log`` receives refusals the plugin caught itself.
    """
    if not guarded(manifest):
        yield None
        return
    _install_hook()
    root = getattr(manifest, "root", None)
    own = [Path(root)] if root is not None else []
    guard = Guard(
        plugin_id=str(getattr(manifest, "id", "plugin")),
        granted=frozenset(getattr(manifest, "permissions", ()) or ()),
        allowed_dirs=tuple(_real(p) for p in allowed_dirs),
        own_dirs=tuple(_real(p) for p in own),
        thread=threading.get_ident(),
        preexisting=frozenset(t.ident for t in threading.enumerate() if t.ident is not None) - {threading.get_ident()},
    )
    with _state_lock:
        _prune_tainted()
        _active.append(guard)
    try:
        yield guard
    except PermissionRefused:
        raise
    except BaseException as exc:
        fatal = guard.fatal
        if fatal is not None and isinstance(exc, Exception):
            raise fatal from exc
        raise
    else:
        fatal = guard.fatal
        if fatal is not None:
            raise fatal
        if log is not None:
            for refusal in guard.refusals:
                log(f"refused and caught by the plugin: {refusal}")
    finally:
        with _state_lock:
            if guard in _active:
                _active.remove(guard)
            alive = {t.ident for t in threading.enumerate()}
            for ident in guard.spawned:
                if ident in alive:
                    _tainted[ident] = guard


def active_guard() -> Guard | None:
    """The guard that applies to the calling thread, if any."""
    ident = threading.get_ident()
    with _state_lock:
        guard = _tainted.get(ident)
        if guard is not None:
            return guard
        for candidate in reversed(_active):
            if candidate.applies_to(ident):
                return candidate
    return None


def _prune_tainted() -> None:
    alive = {t.ident for t in threading.enumerate()}
    for ident in [ident for ident in _tainted if ident not in alive]:
        del _tainted[ident]


# --------------------------------------------------------------------------- the hook


def _install_hook() -> None:
    global _hook_installed
    with _state_lock:
        if _hook_installed:
            return
        _audit_fork_exec()
        sys.addaudithook(_hook)
        _hook_installed = True


def _audit_fork_exec() -> None:
    """multiprocessing starts processes through ``_posixsubprocess.fork_exec`` directly,
    which raises no audit event before Python 3.13: wrap it so that it does."""
    try:
        import _posixsubprocess
    except ImportError:  # Windows
        return
    original = _posixsubprocess.fork_exec
    if getattr(original, "_studio_audited", False):
        return

    def fork_exec(*args: Any, **kwargs: Any) -> Any:
        sys.audit("studio.fork_exec", args[0] if args else None)
        return original(*args, **kwargs)

    fork_exec._studio_audited = True  # type: ignore[attr-defined]
    _posixsubprocess.fork_exec = fork_exec


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in _WATCHED or (not _active and not _tainted):
        return
    if getattr(_reentry, "busy", False):
        return
    _reentry.busy = True
    try:
        guard = active_guard()
        if guard is None:
            return
        refusal = _judge(guard, event, args)
        if refusal is not None:
            refusal.by_plugin = _attempted_by_plugin(guard)
    finally:
        _reentry.busy = False
    if refusal is not None:
        guard.refusals.append(refusal)
        raise refusal


_STDLIB_DIRS = tuple(sorted({os.path.realpath(sysconfig.get_paths()[key]) + os.sep for key in ("stdlib", "platstdlib")}))
_THIS_FILE = os.path.realpath(__file__)


def _attempted_by_plugin(guard: Guard) -> bool:
    """Whether the nearest caller outside the standard library is the plugin's own code
    (rather than a library it uses, including its own ``deps/``)."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        frame = frame.f_back
        if filename.startswith("<") or filename == _THIS_FILE:
            continue  # frozen importlib, exec'd strings, this module
        if filename.startswith(_STDLIB_DIRS) and "-packages" not in filename:
            continue
        for root in guard.own_dirs:
            if _inside(filename, root):
                return not _inside(filename, os.path.join(root, "deps"))
        return False
    return False


def _judge(guard: Guard, event: str, args: tuple[Any, ...]) -> PermissionRefused | None:
    if event in _NETWORK_EVENTS:
        if NETWORK in guard.granted:
            return None
        if event in ("socket.getaddrinfo", "socket.gethostbyname") and _is_literal_address(args[0] if args else None):
            return None  # no look-up happens; the connect that follows is what is refused
        return PermissionRefused(guard.plugin_id, NETWORK, _network_action(event, args))
    if event in _PROCESS_EVENTS:
        if SUBPROCESS in guard.granted:
            return None
        if event in ("os.kill", "os.killpg") and args and args[0] in (os.getpid(), 0):
            return None
        return PermissionRefused(guard.plugin_id, SUBPROCESS, _process_action(event, args))
    if event in _CTYPES_EVENTS:
        symbol = args[1] if len(args) > 1 else None
        if isinstance(symbol, bytes):
            symbol = symbol.decode("ascii", "replace")
        if symbol in _CTYPES_PROCESS and SUBPROCESS not in guard.granted:
            return PermissionRefused(guard.plugin_id, SUBPROCESS, f"look up the C function {symbol}() through ctypes")
        if symbol in _CTYPES_NETWORK and NETWORK not in guard.granted:
            return PermissionRefused(guard.plugin_id, NETWORK, f"look up the C function {symbol}() through ctypes")
        return None
    if FILES in guard.granted:
        return None
    if event == "open" and not _opens_for_writing(args):
        return None
    for index in _FILE_EVENTS[event]:
        if index >= len(args):
            continue
        path = _path_of(args[index], args, event)
        if path is None:
            continue
        if not _may_write(guard, path, event):
            verb = {"open": "write to", "os.remove": "delete", "os.rmdir": "delete", "shutil.rmtree": "delete", "os.mkdir": "create the folder"}.get(event, "change")
            return PermissionRefused(guard.plugin_id, FILES, f"{verb} {path}")
    return None


def _opens_for_writing(args: tuple[Any, ...]) -> bool:
    mode = args[1] if len(args) > 1 else None
    flags = args[2] if len(args) > 2 else 0
    if isinstance(mode, str) and any(ch in mode for ch in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _path_of(value: Any, args: tuple[Any, ...], event: str) -> str | None:
    if value is None or isinstance(value, int):
        return None  # an already-open file descriptor: it was checked when it was opened
    try:
        text = os.fsdecode(os.fspath(value))
    except TypeError:
        return None
    if not os.path.isabs(text):
        base = _dir_fd_path(args, event) or os.getcwd()
        text = os.path.join(base, text)
    return text


def _dir_fd_path(args: tuple[Any, ...], event: str) -> str | None:
    """Resolve a ``dir_fd`` argument (``shutil.rmtree`` walks with them) on Linux."""
    dir_fd = args[-1] if args and event in ("os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.utime") else None
    if not isinstance(dir_fd, int):
        return None
    try:
        return os.readlink(f"/proc/self/fd/{dir_fd}")
    except OSError:
        return None


def _may_write(guard: Guard, path: str, event: str) -> bool:
    real = _real(path)
    if real == os.devnull:
        return True
    for folder in guard.allowed_dirs:
        if _inside(real, folder):
            return True
    # Python caches the bytecode of the plugin's own modules next to them.
    parent, name = os.path.split(real)
    for folder in guard.own_dirs:
        if _inside(real, folder) and (os.path.basename(parent) == "__pycache__" or (event == "os.mkdir" and name == "__pycache__")):
            return True
    return False


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _real(path: Path | str) -> str:
    return os.path.realpath(os.fspath(path))


def _network_action(event: str, args: tuple[Any, ...]) -> str:
    if event == "socket.connect":
        return f"connect to {_address(args[1] if len(args) > 1 else None)}"
    if event == "socket.bind":
        return f"listen on {_address(args[1] if len(args) > 1 else None)}"
    if event in ("socket.sendto", "socket.sendmsg"):
        return f"send data to {_address(args[1] if len(args) > 1 else None)}"
    if event in ("socket.getaddrinfo", "socket.gethostbyname"):
        return f"look up the address of {args[0] if args else 'a host'}"
    if event in ("socket.gethostbyaddr", "socket.getnameinfo"):
        return f"look up the name of {_address(args[0] if args else None)}"
    if event == "urllib.Request":
        return f"open the URL {args[0] if args else ''}"
    return "use the network"


def _is_literal_address(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _address(value: Any) -> str:
    if isinstance(value, tuple) and len(value) >= 2:
        return f"{value[0]}:{value[1]}"
    if isinstance(value, (str, bytes)):
        return os.fsdecode(value)
    return str(value)


def _process_action(event: str, args: tuple[Any, ...]) -> str:
    def arg(index: int) -> Any:
        return args[index] if len(args) > index else None

    if event == "os.system":
        return f"run the shell command {_short(_program_name(arg(0) or ''), 120)!r}"
    program: Any = None
    if event == "subprocess.Popen":  # (executable, args, cwd, env)
        program = arg(0) or arg(1)
    elif event in ("os.exec", "os.posix_spawn"):  # (path, argv, env)
        program = arg(0)
    elif event == "os.spawn":  # (mode, path, args, env)
        program = arg(1)
    elif event in ("studio.fork_exec", "pty.spawn", "os.startfile"):
        program = arg(0)
    if program is not None:
        return f"start the program {_short(_program_name(program))!r}"
    if event in ("os.fork", "os.forkpty"):
        return "fork the engine's worker process"
    if event in ("os.kill", "os.killpg"):
        return f"send a signal to process {arg(0)}"
    return "start another program"


def _program_name(value: Any) -> str:
    if isinstance(value, (list, tuple)) and value:
        value = value[0]
    if isinstance(value, (bytes, os.PathLike)):
        value = os.fsdecode(value)
    return str(value)


def _short(text: Any, limit: int = 80) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "FILES",
    "GUARDED_PERMISSIONS",
    "NETWORK",
    "SUBPROCESS",
    "Guard",
    "PermissionRefused",
    "active_guard",
    "default_allowed_dirs",
    "guarded",
    "plugin_permissions",
]
