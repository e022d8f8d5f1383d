"""Declared permissions, enforced by an audit hook: the portable layer of the guard.

On Linux, community plugins run in their own worker process restricted by the kernel
(Landlock, seccomp: ``studio.plugins.guard.sandbox``); this hook runs there too, gives the
refusal its clear message, and is the only layer where the kernel offers neither.

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

Calls that raise no audit event of their own (``os.open``/``os.mkfifo``/``os.mknod`` with
``dir_fd``, ``os.pidfd_open``, ``signal.pidfd_send_signal``) are wrapped so that they do;
a file descriptor argument (``os.fchmod``) is judged by the file it refers to; a hard link
is judged by its source as well as its target; ``sqlite3.connect`` is a write.

``guard_process`` puts a whole process under one plugin's permissions for the rest of its
life: the sandboxed worker and the installer's trial import use it, so code a plugin leaves
behind (``atexit`` hooks, patched studio functions, threads) never runs unguarded.

What this is not, on its own: Python code in the same process can defeat an audit hook (by
changing this module's state, by native code in a C extension, through ``ctypes`` calls this
hook does not recognise). It catches honest mistakes and lazy malware; the kernel layers are
what contain a determined attacker. First-party plugins are not restricted.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket as socket_module
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        "socket.__new__",
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
        "studio.pidfd_open",
        "studio.pidfd_send_signal",
    }
)
# Events that change the file system: which arguments are paths, each with the index of the
# ``dir_fd`` argument it is relative to (None: none). A hard link's source counts: a link to
# settings.json inside the scratch folder would make settings.json writable from there.
_FILE_EVENTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "open": ((0, None),),
    "studio.open_at": ((0, 2),),
    "studio.mkfifo": ((0, 1),),
    "sqlite3.connect": ((0, None),),
    "os.mkdir": ((0, 2),),
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "os.rename": ((0, 2), (1, 3)),
    "os.truncate": ((0, None),),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.chflags": ((0, None),),
    "os.lchflags": ((0, None),),
    "os.utime": ((0, 3),),
    "os.symlink": ((1, 2),),
    "os.link": ((0, 2), (1, 3)),
    "os.setxattr": ((0, None),),
    "os.removexattr": ((0, None),),
    "shutil.rmtree": ((0, 1),),
    "shutil.chown": ((0, None),),
    "shutil.move": ((0, None), (1, None)),
}
_CTYPES_EVENTS = frozenset({"ctypes.dlsym"})
_WATCHED = _NETWORK_EVENTS | _PROCESS_EVENTS | frozenset(_FILE_EVENTS) | _CTYPES_EVENTS
# libc functions that start programs or open connections; looking them up through ctypes
# is the obvious way around the hook.
_CTYPES_PROCESS = frozenset(
    {
        "system",
        "popen",
        "fork",
        "vfork",
        "posix_spawn",
        "posix_spawnp",
        "execv",
        "execve",
        "execvp",
        "execvpe",
        "execl",
        "execle",
        "execlp",
        "fexecve",
        "clone",
        "clone3",
    }
)
_CTYPES_NETWORK = frozenset({"connect", "socket", "getaddrinfo", "gethostbyname", "sendto", "sendmsg", "bind"})
# ...and the ones that change files or signal processes behind the hook's back. ``syscall``
# reaches everything, so a guarded plugin may not look it up at all.
_CTYPES_FILES = frozenset(
    {
        "open",
        "open64",
        "openat",
        "openat64",
        "creat",
        "creat64",
        "rename",
        "renameat",
        "renameat2",
        "unlink",
        "unlinkat",
        "link",
        "linkat",
        "symlink",
        "symlinkat",
        "mkdir",
        "mkdirat",
        "rmdir",
        "mkfifo",
        "mkfifoat",
        "mknod",
        "mknodat",
        "chmod",
        "fchmod",
        "fchmodat",
        "chown",
        "fchown",
        "lchown",
        "fchownat",
        "truncate",
        "ftruncate",
        "fopen",
        "fopen64",
    }
)
_CTYPES_SIGNALS = frozenset(
    {"kill", "killpg", "tgkill", "tkill", "sigqueue", "pidfd_send_signal", "pidfd_open", "ptrace", "process_vm_writev"}
)
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
    # Files the plugin may not even read, whatever it declares (the engine's token).
    private: frozenset[str] = frozenset()

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
# Threads a plugin started that outlived its job, by id, with the Thread itself: an id is
# reused once its thread ends, and a new thread with an old id is not the plugin's.
_tainted: dict[int, tuple[Guard, threading.Thread]] = {}
_reentry = threading.local()
_hook_installed = False
# The guard a whole process runs under (``guard_process``): it applies to every thread that no
# other guard claims, for the rest of the process's life.
_process_guard: Guard | None = None


def declared(manifest: Any, name: str, default: Any = None) -> Any:
    """A ``[plugin]`` fact (``id``, ``permissions``) of a Manifest, read from ``manifest.plugin``.

    A stand-in without a ``plugin`` table (a namespace with the facts on itself) is read
    directly, so callers that only know a plugin's id and permissions can be guarded too.
    """
    return getattr(getattr(manifest, "plugin", manifest), name, default)


def guarded(manifest: Any) -> bool:
    """Whether a plugin runs under the guard: community plugins that lack a permission."""
    if getattr(manifest, "source", "user") == "first-party":
        return False
    granted = set(declared(manifest, "permissions", ()) or ())
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
    guard = _new_guard(manifest, allowed_dirs)
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
            alive = {t.ident: t for t in threading.enumerate()}
            for ident in guard.spawned:
                if ident in alive:
                    _tainted[ident] = (guard, alive[ident])


def guard_process(manifest: Any, allowed_dirs: Iterable[Path] = (), *, private: Iterable[Path] = ()) -> Guard | None:
    """Put this whole process under ``manifest``'s permissions until it exits; never lifted.

    For a process that exists to run one community plugin (the sandboxed worker, the
    installer's trial import): whatever the plugin leaves behind (``atexit`` hooks, patched
    studio functions, threads, finalizers) runs under the same refusals as its own calls.
    ``private`` files may not be opened at all, even with every permission declared.
    Returns the guard, or None when the plugin is not restricted.
    """
    global _process_guard
    private_files = frozenset(_real(p) for p in private)
    if not guarded(manifest) and not private_files:
        return None
    _install_hook()
    guard = _new_guard(manifest, allowed_dirs)
    guard.preexisting = frozenset()
    guard.private = private_files
    with _state_lock:
        _process_guard = guard
    return guard


def process_guard() -> Guard | None:
    """The guard this process runs under for good (see ``guard_process``), if any."""
    return _process_guard


def active_guard() -> Guard | None:
    """The guard that applies to the calling thread, if any."""
    ident = threading.get_ident()
    with _state_lock:
        tainted = _tainted.get(ident)
        if tainted is not None:
            if tainted[1] is threading.current_thread():
                return tainted[0]
            del _tainted[ident]  # that thread has ended; this one only reuses its id
        for candidate in reversed(_active):
            if candidate.applies_to(ident):
                return candidate
    return _process_guard


def _new_guard(manifest: Any, allowed_dirs: Iterable[Path]) -> Guard:
    root = getattr(manifest, "root", None)
    own = [Path(root)] if root is not None else []
    return Guard(
        plugin_id=str(declared(manifest, "id", "plugin")),
        granted=frozenset(declared(manifest, "permissions", ()) or ()),
        allowed_dirs=tuple(_real(p) for p in allowed_dirs),
        own_dirs=tuple(_real(p) for p in own),
        thread=threading.get_ident(),
        preexisting=frozenset(t.ident for t in threading.enumerate() if t.ident is not None) - {threading.get_ident()},
        # A job's guard in a guarded process keeps that process's private files.
        private=_process_guard.private if _process_guard is not None else frozenset(),
    )


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
        _audit_unaudited_calls()
        sys.addaudithook(_hook)
        _hook_installed = True


def _audit_unaudited_calls() -> None:
    """Make the calls that raise no audit event (or one without its ``dir_fd``) raise one.

    ``os.open(name, flags, dir_fd=fd)`` audits only ``name``, so a relative name would be
    judged against the working folder instead of ``fd``'s folder; ``os.mkfifo``, ``os.mknod``,
    ``os.pidfd_open`` and ``signal.pidfd_send_signal`` audit nothing at all.
    """
    import posix
    import signal

    def wrap(module: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(module, name, None)
        if original is None or getattr(original, "_studio_audited", False):
            return
        wrapper = make(original)
        wrapper._studio_audited = True
        wrapper.__name__ = name
        wrapper.__doc__ = original.__doc__
        for target in (module, os, posix) if module is not signal else (signal,):
            if getattr(target, name, None) is original:
                setattr(target, name, wrapper)

    def open_at(original: Any) -> Any:
        def open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
            if dir_fd is None:
                return original(path, flags, mode)
            sys.audit("studio.open_at", path, flags, dir_fd)
            # The "open" event that follows names only the relative path: it was judged here.
            _reentry.judged_open = path
            try:
                return original(path, flags, mode, dir_fd=dir_fd)
            finally:
                _reentry.judged_open = None

        return open

    def make_node(event: str) -> Callable[[Any], Any]:
        def make(original: Any) -> Any:
            def node(path: Any, *args: Any, dir_fd: int | None = None, **kwargs: Any) -> Any:
                sys.audit(event, path, -1 if dir_fd is None else dir_fd)
                return original(path, *args, dir_fd=dir_fd, **kwargs)

            return node

        return make

    def pidfd_open(original: Any) -> Any:
        def call(pid: int, flags: int = 0) -> int:
            sys.audit("studio.pidfd_open", pid)
            return original(pid, flags)

        return call

    def pidfd_send_signal(original: Any) -> Any:
        def call(pidfd: int, sig: int, siginfo: Any = None, flags: int = 0) -> None:
            sys.audit("studio.pidfd_send_signal", pidfd, sig)
            return original(pidfd, sig, siginfo, flags)

        return call

    wrap(posix, "open", open_at)
    wrap(posix, "mkfifo", make_node("studio.mkfifo"))
    wrap(posix, "mknod", make_node("studio.mkfifo"))
    wrap(posix, "pidfd_open", pidfd_open)
    wrap(signal, "pidfd_send_signal", pidfd_send_signal)


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
    if event not in _WATCHED or (not _active and not _tainted and _process_guard is None):
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
    frame: Any = sys._getframe(2)
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


def _judge(guard: Guard, event: str, args: tuple[Any, ...]) -> PermissionRefused | None:  # noqa: C901
    if event in _NETWORK_EVENTS:
        if NETWORK in guard.granted:
            return None
        if event in ("socket.getaddrinfo", "socket.gethostbyname") and _is_literal_address(args[0] if args else None):
            return None  # no look-up happens; the connect that follows is what is refused
        if event == "socket.__new__":  # (socket, family, type, proto)
            family, kind = (args[1] if len(args) > 1 else -1), (args[2] if len(args) > 2 else -1)
            if family == getattr(socket_module, "AF_UNIX", 1) or (
                family in (socket_module.AF_INET, socket_module.AF_INET6)
                and isinstance(kind, int)
                and kind & 0xF == socket_module.SOCK_STREAM
            ):
                return None  # unix sockets are local; a TCP socket is judged when it connects or binds
            return PermissionRefused(guard.plugin_id, NETWORK, f"open a network socket (family {family}, type {kind})")
        return PermissionRefused(guard.plugin_id, NETWORK, _network_action(event, args))
    if event in _PROCESS_EVENTS:
        if SUBPROCESS in guard.granted:
            return None
        if event in ("os.kill", "os.killpg", "studio.pidfd_open") and args and args[0] == os.getpid():
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
        if symbol in _CTYPES_SIGNALS and SUBPROCESS not in guard.granted:
            return PermissionRefused(guard.plugin_id, SUBPROCESS, f"look up the C function {symbol}() through ctypes")
        if symbol in _CTYPES_FILES and FILES not in guard.granted:
            return PermissionRefused(guard.plugin_id, FILES, f"look up the C function {symbol}() through ctypes")
        if symbol == "syscall" and not set(GUARDED_PERMISSIONS) <= guard.granted:
            return PermissionRefused(
                guard.plugin_id, FILES if FILES not in guard.granted else SUBPROCESS, "make raw system calls through ctypes"
            )
        return None
    if event in _FILE_EVENTS and guard.private:
        refusal = _judge_private(guard, event, args)
        if refusal is not None:
            return refusal
    if event == "open" and args and getattr(_reentry, "judged_open", None) is args[0]:
        return None
    if FILES in guard.granted:
        return None
    if event in ("open", "studio.open_at") and not _opens_for_writing(event, args):
        return None
    if event == "sqlite3.connect" and _sqlite_read_only(args[0] if args else None):
        return None
    for index, dir_fd_index in _FILE_EVENTS[event]:
        if index >= len(args):
            continue
        dir_fd = args[dir_fd_index] if dir_fd_index is not None and dir_fd_index < len(args) else None
        path = _path_of(args[index], dir_fd)
        if path is None:
            continue
        if not _may_write(guard, path, event):
            verb = {
                "open": "write to",
                "studio.open_at": "write to",
                "sqlite3.connect": "open the database",
                "studio.mkfifo": "create the special file",
                "os.remove": "delete",
                "os.rmdir": "delete",
                "shutil.rmtree": "delete",
                "os.mkdir": "create the folder",
                "os.link": "hard-link",
            }.get(event, "change")
            return PermissionRefused(guard.plugin_id, FILES, f"{verb} {path}")
    return None


def _judge_private(guard: Guard, event: str, args: tuple[Any, ...]) -> PermissionRefused | None:
    """Any use at all (a read, a link, a chmod) of one of the guard's private files."""
    for index, dir_fd_index in _FILE_EVENTS[event]:
        if index >= len(args) or (event == "open" and getattr(_reentry, "judged_open", None) is args[0]):
            continue
        dir_fd = args[dir_fd_index] if dir_fd_index is not None and dir_fd_index < len(args) else None
        path = _path_of(args[index], dir_fd)
        if path is not None and _real(path) in guard.private:
            return PermissionRefused(guard.plugin_id, FILES, f"open the studio's private file {path}")
    return None


def _opens_for_writing(event: str, args: tuple[Any, ...]) -> bool:
    if event == "studio.open_at":  # (path, flags, dir_fd)
        flags = args[1] if len(args) > 1 else 0
        return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)
    mode = args[1] if len(args) > 1 else None
    flags = args[2] if len(args) > 2 else 0
    if isinstance(mode, str) and any(ch in mode for ch in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _sqlite_read_only(database: Any) -> bool:
    """An in-memory database, or a ``file:`` URI opened with ``mode=ro``, writes nothing."""
    if isinstance(database, bytes):
        database = database.decode("utf-8", "replace")
    if not isinstance(database, str) and not isinstance(database, os.PathLike):
        return True
    text = os.fspath(database)
    if text in ("", ":memory:") or text.startswith("file::memory:"):
        return True
    return text.startswith("file:") and "mode=ro" in text.partition("?")[2]


def _path_of(value: Any, dir_fd: Any = None) -> str | None:
    if value is None:
        return None
    if isinstance(value, int):
        # A file descriptor (os.fchmod, os.ftruncate): judge the file it refers to.
        return _fd_path(value)
    try:
        text = os.fsdecode(os.fspath(value))
    except TypeError:
        return None
    if text.startswith("file:"):  # a sqlite URI
        text = text[5:].partition("?")[0]
    if not os.path.isabs(text):
        base = _fd_path(dir_fd) if isinstance(dir_fd, int) and dir_fd >= 0 else os.getcwd()
        if base is None:
            return os.path.join("/proc/self/fd", str(dir_fd), text)  # unknown: never an allowed folder
        text = os.path.join(base, text)
    return text


def _fd_path(fd: int) -> str | None:
    """What an open file descriptor refers to (Linux); None where that cannot be told."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    return target if target.startswith("/") else None


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
    "guard_process",
    "guarded",
    "plugin_permissions",
    "process_guard",
]
