"""seccomp: the kernel refuses network sockets and new processes a plugin did not declare.

A small classic-BPF filter built here and installed with ``seccomp(SECCOMP_SET_MODE_FILTER,
SECCOMP_FILTER_FLAG_TSYNC)`` through ``ctypes`` (no libseccomp needed), so it covers every
thread of the process. Refused calls fail with ``EPERM``; nothing is killed:

- without ``network``: ``socket()`` for any family but ``AF_UNIX`` (the worker's own pipe
  is a unix socket pair). Where Landlock refuses TCP connect and bind (``tcp_by_landlock``),
  plain TCP sockets may be created, so the audit hook sees the ``connect`` and can name the
  address in its refusal; UDP, raw, SCTP and every other family stay refused here;
- without ``subprocess``: ``execve``/``execveat``, ``fork``/``vfork``, ``clone`` without
  ``CLONE_THREAD`` (threads stay possible), ``clone3`` (answered ``ENOSYS``, so the C
  library falls back to ``clone``, whose flags a filter can read), signals to any other
  process (``kill``/``tgkill`` aimed elsewhere, ``tkill``, ``pidfd_send_signal``,
  ``pidfd_open``), ``ptrace`` and ``process_vm_writev``;
- always: ``io_uring_setup`` (its rings would create sockets without a ``socket()`` call).

x86-64 and aarch64 only; elsewhere ``supported()`` says no and the audit hook stays the
only layer for these permissions.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
from dataclasses import dataclass

_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1

_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_AND_K = 0x54
_RET_K = 0x06

_AF_UNIX, _AF_INET, _AF_INET6 = 1, 2, 10
_SOCK_STREAM, _SOCK_TYPE_MASK = 1, 0xF
_IPPROTO_TCP = 6
_CLONE_THREAD = 0x00010000


@dataclass(frozen=True)
class _Arch:
    audit: int
    seccomp: int  # the seccomp syscall's own number
    calls: dict[str, int]
    x32_bit: int = 0


_ARCHES = {
    "x86_64": _Arch(
        audit=0xC000003E,
        seccomp=317,
        x32_bit=0x40000000,
        calls={
            "socket": 41,
            "clone": 56,
            "fork": 57,
            "vfork": 58,
            "execve": 59,
            "kill": 62,
            "ptrace": 101,
            "tkill": 200,
            "tgkill": 234,
            "process_vm_writev": 311,
            "execveat": 322,
            "pidfd_send_signal": 424,
            "pidfd_open": 434,
            "clone3": 435,
            "io_uring_setup": 425,
        },
    ),
    "aarch64": _Arch(
        audit=0xC00000B7,
        seccomp=277,
        calls={
            "socket": 198,
            "clone": 220,
            "execve": 221,
            "kill": 129,
            "tkill": 130,
            "tgkill": 131,
            "ptrace": 117,
            "process_vm_writev": 271,
            "execveat": 281,
            "pidfd_send_signal": 424,
            "pidfd_open": 434,
            "clone3": 435,
            "io_uring_setup": 425,
        },
    ),
}


def _arch() -> _Arch | None:
    machine = platform.machine().lower()
    return _ARCHES.get({"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)) if platform.system() == "Linux" else None


def supported() -> bool:
    """Whether this machine can take the filter (Linux on x86-64 or aarch64 with seccomp)."""
    if _arch() is None:
        return False
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return any(line.startswith("Seccomp:") for line in status)
    except OSError:
        return False


def unavailable_reason() -> str:
    if platform.system() != "Linux":
        return f"seccomp is a Linux feature; this is {platform.system()}"
    if _arch() is None:
        return f"no seccomp filter is written for {platform.machine()}"
    if not supported():
        return "this kernel has no seccomp"
    return ""


class _Program:
    """Classic BPF with forward jumps to labels, resolved when built."""

    def __init__(self) -> None:
        self.code: list[tuple[int, int | str, int | str, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int = 0, jt: int | str = 0, jf: int | str = 0) -> None:
        self.code.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def build(self) -> ctypes.Array[_SockFilter]:
        filters = (_SockFilter * len(self.code))()
        for index, (code, jt, jf, k) in enumerate(self.code):
            filters[index] = _SockFilter(code, self._offset(index, jt), self._offset(index, jf), k & 0xFFFFFFFF)
        return filters

    def _offset(self, index: int, target: int | str) -> int:
        if isinstance(target, int):
            return target
        distance = self.labels[target] - index - 1
        if not 0 <= distance <= 255:
            raise ValueError(f"BPF jump to {target} out of range")
        return distance


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _arg_low(index: int) -> int:
    """Offset of syscall argument ``index``'s low 32 bits in ``struct seccomp_data``."""
    return 16 + 8 * index + (0 if sys.byteorder == "little" else 4)


def build_filter(*, allow_network: bool, allow_processes: bool, pid: int, tcp_by_landlock: bool = False) -> ctypes.Array[_SockFilter]:
    """The filter for a plugin with these permissions, in the process ``pid``."""
    arch = _arch()
    if arch is None:
        raise OSError(errno.ENOSYS, unavailable_reason())
    deny = _RET_ERRNO | errno.EPERM
    program = _Program()
    program.op(_LD_W_ABS, 4)  # seccomp_data.arch
    program.op(_JEQ_K, arch.audit, "native", 0)
    program.op(_RET_K, _RET_KILL_PROCESS)  # a foreign syscall ABI (i386 on x86-64)
    program.label("native")
    program.op(_LD_W_ABS, 0)  # seccomp_data.nr
    if arch.x32_bit:
        program.op(_JGE_K, arch.x32_bit, "deny", 0)
    calls = arch.calls
    # io_uring can create sockets and more without the syscalls below ever being made.
    program.op(_JEQ_K, calls["io_uring_setup"], "deny", 0)
    if not allow_network:
        program.op(_JEQ_K, calls["socket"], "socket", 0)
    if not allow_processes:
        for name in ("execve", "execveat", "fork", "vfork", "tkill", "pidfd_send_signal", "pidfd_open", "ptrace", "process_vm_writev"):
            if name in calls:
                program.op(_JEQ_K, calls[name], "deny", 0)
        program.op(_JEQ_K, calls["clone3"], "nosys", 0)
        program.op(_JEQ_K, calls["clone"], "clone", 0)
        program.op(_JEQ_K, calls["kill"], "signal", 0)
        program.op(_JEQ_K, calls["tgkill"], "signal", 0)
    program.op(_RET_K, _RET_ALLOW)
    if not allow_network:
        program.label("socket")
        program.op(_LD_W_ABS, _arg_low(0))
        if tcp_by_landlock:
            program.op(_JEQ_K, _AF_UNIX, "allow", 0)
            program.op(_JEQ_K, _AF_INET, "stream", 0)
            program.op(_JEQ_K, _AF_INET6, "stream", "deny")
            program.label("stream")
            program.op(_LD_W_ABS, _arg_low(1))
            program.op(_AND_K, _SOCK_TYPE_MASK)
            program.op(_JEQ_K, _SOCK_STREAM, 0, "deny")
            program.op(_LD_W_ABS, _arg_low(2))
            program.op(_JEQ_K, 0, "allow", 0)
            program.op(_JEQ_K, _IPPROTO_TCP, "allow", "deny")
        else:
            program.op(_JEQ_K, _AF_UNIX, "allow", "deny")
    if not allow_processes:
        program.label("clone")
        program.op(_LD_W_ABS, _arg_low(0))
        program.op(_JSET_K, _CLONE_THREAD, "allow", "deny")
        program.label("signal")
        program.op(_LD_W_ABS, _arg_low(0))
        program.op(_JEQ_K, pid, "allow", "deny")
        program.label("nosys")
        program.op(_RET_K, _RET_ERRNO | errno.ENOSYS)
    program.label("allow")
    program.op(_RET_K, _RET_ALLOW)
    program.label("deny")
    program.op(_RET_K, deny)
    return program.build()


def describe(*, allow_network: bool, allow_processes: bool) -> str:
    blocked = [
        what for what, allowed in (("network sockets", allow_network), ("new processes and signals", allow_processes)) if not allowed
    ]
    return "seccomp: " + " + ".join(blocked) if blocked else ""


def restrict_self(*, allow_network: bool, allow_processes: bool, tcp_by_landlock: bool = False) -> None:
    """Install the filter on every thread of this process, for good."""
    if allow_network and allow_processes:
        return
    arch = _arch()
    if arch is None or not supported():
        raise OSError(errno.ENOSYS, unavailable_reason())
    filters = build_filter(allow_network=allow_network, allow_processes=allow_processes, pid=os.getpid(), tcp_by_landlock=tcp_by_landlock)
    program = _SockFprog(len(filters), ctypes.cast(filters, ctypes.POINTER(_SockFilter)))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    result = libc.syscall(
        ctypes.c_long(arch.seccomp),
        ctypes.c_uint(_SECCOMP_SET_MODE_FILTER),
        ctypes.c_uint(_SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.byref(program),
    )
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"installing the seccomp filter failed: {os.strerror(code)}")
