"""Error types whose messages a user can act on.

Every error raised across a layer boundary is a ``StudioError``: the CLI prints its message
as one line, the engine turns it into a 422 or a failed job, the window shows it in a dialog.
"""


class StudioError(Exception):
    """Base for errors that carry a message meant for the user."""


class ParamError(StudioError, ValueError):
    """A request's parameters do not match the generator's schema."""


class ManifestError(StudioError):
    """A plugin.toml is missing, malformed or asks for something this studio cannot give."""


class FileFormatError(StudioError):
    """A file is corrupt, truncated or not of the kind it claims to be."""


class ModelFormatError(StudioError):
    """A model file or folder cannot be loaded (wrong layout, pickle refused, truncated)."""


class ProjectError(StudioError):
    """A project file cannot be opened or written."""


class Cancelled(StudioError):
    """Raised inside a generator when the user cancelled the job."""

    def __init__(self, message: str = "cancelled by the user") -> None:
        super().__init__(message)
