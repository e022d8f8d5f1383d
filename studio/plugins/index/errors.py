"""What can go wrong with an index, as types a caller (CLI, window, tests) can tell apart.

Every message names what did not match and what to do, because "refused" alone teaches a
user nothing and makes them reach for a way around the check.
"""

from studio.core.errors import StudioError


class PluginIndexError(StudioError):
    """An index could not be read, is malformed, or a plugin in it cannot be installed."""


class TrustError(PluginIndexError):
    """A key changed since it was pinned, or a signature does not verify."""


class IntegrityError(PluginIndexError):
    """A downloaded archive's size or SHA-256 is not what the signed index says."""


class DowngradeRefused(PluginIndexError):
    """The index offers a version older than the one installed."""


class WithdrawnVersion(PluginIndexError):
    """The version asked for was withdrawn by its publisher (an advisory)."""


class DownloadError(PluginIndexError):
    """A transfer failed: refused address, too large, stalled, timed out, HTTP error."""
