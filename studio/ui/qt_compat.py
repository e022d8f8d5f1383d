"""Work-arounds for defects of the Qt binding this studio runs on.

PySide6 6.12.0 on Python 3.11 returns ``None`` from every wrapped ``void`` method (``setText``,
``show``, ``processEvents``, …) without taking a new reference, and ``QTimer.singleShot`` /
``QThreadPool.start`` drop one reference to a Python callable's result. Each call lowers
None's reference count by one; after some ten thousand calls it reaches zero and the
interpreter aborts with "none_dealloc" — minutes into a session. (Python 3.12 made None, True
and False immortal, so the same wheels are harmless there.)

The project pins PySide6 below 6.12, so a normal install never has the defect; for a user
who has 6.12.x anyway, ``guard_singleton_refcounts`` gives None, True and False a reference
count no session can run down — what Python 3.12 does for them anyway.
"""

from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 40
_guarded = False


def guard_singleton_refcounts() -> None:
    global _guarded
    if _guarded or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    import PySide6

    if not PySide6.__version__.startswith("6.12."):
        return
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += _HEADROOM
    _guarded = True
