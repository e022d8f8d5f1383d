"""What a path is when it is not a regular file, said in words a user understands.

Opening a FIFO for reading blocks until a writer appears, so anything that reads a
user-chosen path (a project, a file to inspect or restore) asks this first.
"""

from __future__ import annotations

import stat


def special_file_kind(mode: int) -> str | None:
    """None for a regular file, else "a folder", "a named pipe (FIFO)", "a device"…"""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"
