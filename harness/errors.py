"""The one exception type the CLI turns into a one-line error message instead of a traceback."""

__all__ = ["SptxError"]


class SptxError(Exception):
    """A user-facing failure: bad input, a missing file, an unavailable device. The message is shown as is."""
