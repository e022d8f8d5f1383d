"""Landlock (Linux ≥ 5.13): the kernel refuses file access outside the folders we grant.

Called through ``ctypes`` (``landlock_create_ruleset``, ``landlock_add_rule``,
``landlock_restrict_self``), no extra package. Once a process restricts itself it can never
lift the restriction, and every thread and child it creates afterwards inherits it, so it is
applied first thing in a sandboxed worker, before any plugin code or helper thread exists.

The rights a ruleset handles depend on the kernel's Landlock ABI version (``abi_version``):
v1 files, v2 linking/renaming across folders (``REFER``), v3 truncation, v4 TCP bind/connect,
v5 device ioctls, v6 scopes (signals to, and abstract unix sockets of, processes outside the
sandbox). Rights this kernel does not know are left out, so older kernels get what they can
enforce and ``Landlock.describe`` says which.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from collections.abc import Iterable
from dataclasses import dataclass, field

# Syscall numbers are the same on every architecture that has Landlock.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5

NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

_FS_BY_ABI = {
    1: EXECUTE
    | WRITE_FILE
    | READ_FILE
    | READ_DIR
    | REMOVE_DIR
    | REMOVE_FILE
    | MAKE_CHAR
    | MAKE_DIR
    | MAKE_REG
    | MAKE_SOCK
    | MAKE_FIFO
    | MAKE_BLOCK
    | MAKE_SYM,
    2: REFER,
    3: TRUNCATE,
    5: IOCTL_DEV,
}
# Rights that make sense on a file (rather than a folder) in a path-beneath rule.
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV

READ = EXECUTE | READ_FILE | READ_DIR
# Read and write, but never create device nodes or FIFOs (a FIFO in a shared folder is a
# trap for the process that opens it; see issue 10).
READ_WRITE = READ | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SYM | MAKE_SOCK | REFER | TRUNCATE
# A device we hand out (/dev/null, a GPU): read, write and its ioctls, nothing else.
DEVICE = READ_FILE | WRITE_FILE | IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


class LandlockUnavailable(OSError):
    """This kernel (or platform) has no usable Landlock; the message says why."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is missing or turned off."""
    if platform.system() != "Linux":
        return 0
    try:
        libc = _libc()
        libc.syscall.restype = ctypes.c_long
        version = libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return int(version) if version > 0 else 0


def unavailable_reason() -> str:
    """Why ``abi_version()`` is 0, in words (empty when Landlock is available)."""
    if platform.system() != "Linux":
        return f"Landlock is a Linux feature; this is {platform.system()}"
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    if result > 0:
        return ""
    code = ctypes.get_errno()
    if code == errno.ENOSYS:
        return f"this kernel ({platform.release()}) has no Landlock (Linux 5.13 or later built with CONFIG_SECURITY_LANDLOCK)"
    if code == errno.EOPNOTSUPP:
        return "Landlock is built into this kernel but not enabled (add landlock to the lsm= boot parameter)"
    return f"the Landlock probe failed: {os.strerror(code)}"


@dataclass
class Landlock:
    """A ruleset being built: grant folders, then ``restrict_self``.

    ``block_tcp``: refuse TCP bind and connect (ABI ≥ 4; UDP and other sockets are seccomp's).
    ``scope_signals``: refuse signals to processes outside this sandbox (ABI ≥ 6).
    """

    abi: int
    block_tcp: bool = False
    scope_signals: bool = False
    rules: list[tuple[str, int]] = field(default_factory=list)

    @classmethod
    def probe(cls, *, block_tcp: bool = False, scope_signals: bool = False) -> Landlock:
        abi = abi_version()
        if abi < 1:
            raise LandlockUnavailable(unavailable_reason())
        return cls(abi=abi, block_tcp=block_tcp, scope_signals=scope_signals)

    @property
    def handled_fs(self) -> int:
        return sum(bits for version, bits in _FS_BY_ABI.items() if version <= self.abi)

    @property
    def handles_tcp(self) -> bool:
        return self.block_tcp and self.abi >= 4

    @property
    def handles_signals(self) -> bool:
        return self.scope_signals and self.abi >= 6

    def grant(self, path: str | os.PathLike[str], access: int) -> None:
        """Allow ``access`` beneath ``path`` (a missing path is skipped)."""
        self.rules.append((os.fspath(path), access))

    def grant_all(self, paths: Iterable[str | os.PathLike[str]], access: int) -> None:
        for path in paths:
            self.grant(path, access)

    def describe(self) -> str:
        parts = [f"Landlock ABI {self.abi}: files"]
        if self.handles_tcp:
            parts.append("TCP")
        if self.handles_signals:
            parts.append("signals")
        return parts[0] + (" + " + ", ".join(parts[1:]) if len(parts) > 1 else "")

    def restrict_self(self) -> None:
        """Apply the ruleset to this thread and everything it starts, for good."""
        libc = _libc()
        libc.syscall.restype = ctypes.c_long
        libc.prctl.restype = ctypes.c_int
        handled = self.handled_fs
        attr = _RulesetAttr(handled_access_fs=handled, handled_access_net=0, scoped=0)
        size = 8
        if self.handles_tcp:
            attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
            size = 16
        if self.handles_signals:
            attr.scoped = SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET
            size = 24
        ruleset = libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
        if ruleset < 0:
            raise LandlockUnavailable(f"landlock_create_ruleset failed: {os.strerror(ctypes.get_errno())}")
        try:
            for path, access in self.rules:
                self._add_path_rule(libc, int(ruleset), path, access & handled)
            if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
            if libc.syscall(ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_int(int(ruleset)), ctypes.c_uint32(0)) != 0:
                raise OSError(ctypes.get_errno(), f"landlock_restrict_self failed: {os.strerror(ctypes.get_errno())}")
        finally:
            os.close(int(ruleset))

    @staticmethod
    def _add_path_rule(libc: ctypes.CDLL, ruleset: int, path: str, access: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return  # nothing there to grant
        try:
            if not os.path.isdir(f"/proc/self/fd/{fd}"):
                access &= _FILE_RIGHTS
            if not access:
                return
            rule = _PathBeneathAttr(allowed_access=access, parent_fd=fd)
            if (
                libc.syscall(
                    ctypes.c_long(_SYS_ADD_RULE),
                    ctypes.c_int(ruleset),
                    ctypes.c_int(_RULE_PATH_BENEATH),
                    ctypes.byref(rule),
                    ctypes.c_uint32(0),
                )
                != 0
            ):
                raise OSError(ctypes.get_errno(), f"landlock_add_rule({path}) failed: {os.strerror(ctypes.get_errno())}")
        finally:
            os.close(fd)
