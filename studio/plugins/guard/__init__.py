"""The permissions guard: what a community plugin may do, and the layers that enforce it.

- ``audit``: an audit hook (PEP 578) that refuses undeclared network, process and file
  access with a message naming the plugin, the action and the permission. Portable.
- ``landlock`` and ``seccomp``: the Linux kernel's own restrictions (ctypes, no extra
  packages), applied to a sandboxed worker process that runs one community plugin.
- ``sandbox``: which folders a plugin's process may read or write (from its manifest),
  which layers this machine supports, and applying them.

Both the engine (which runs plugins) and the installer (whose trial import runs a new
plugin's code once) import from here; neither reaches into the other.
"""

from studio.plugins.guard.audit import (
    FILES,
    GUARDED_PERMISSIONS,
    NETWORK,
    SUBPROCESS,
    Guard,
    PermissionRefused,
    active_guard,
    default_allowed_dirs,
    guard_process,
    guarded,
    plugin_permissions,
    process_guard,
)

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
