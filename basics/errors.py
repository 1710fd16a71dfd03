"""Typed errors with one-line messages: the CLI prints str(err) and exits non-zero, never a traceback."""


class PerceptionError(Exception):
    """A perception step could not run; the message names the input and what was wrong."""


class MediaError(PerceptionError):
    """A media file or buffer could not be read (missing, empty, corrupt, unsupported)."""


class ModelUnavailableError(PerceptionError):
    """A model file is missing, corrupt or cannot be fetched offline."""
