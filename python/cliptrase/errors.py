"""Exceptions: one class per ct_status, each carrying the library's one-line message.

Every class derives from CliptraseError and, where one fits, from the built-in exception a
Python caller would expect (ValueError for bad arguments and malformed input, OSError for file
errors, MemoryError, ...), so ``except OSError`` around a load works as it does for open().
"""

import enum


class Status(enum.IntEnum):
    """The library's ct_status values (include/cliptrase.h)."""

    OK = 0
    INVALID_ARG = 1
    IO = 2
    FORMAT = 3
    UNSUPPORTED = 4
    MISSING = 5
    SHAPE = 6
    NOMEM = 7
    TOO_LARGE = 8
    NONFINITE = 9


class CliptraseError(Exception):
    """Base class. ``status`` is the ct_status (a Status, or the raw int for a status this
    package does not know); ``str(e)`` is the library's message."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self):
        return self.args[0] if self.args else ""


class InvalidArgumentError(CliptraseError, ValueError):
    """A bad argument or parameter (CT_ERR_INVALID_ARG), or a misuse caught in Python: a closed
    object, a value of the wrong type."""

    status = Status.INVALID_ARG


class CliptraseIOError(CliptraseError, OSError):
    """A file could not be opened, read, mapped or written (CT_ERR_IO)."""

    status = Status.IO


class FormatError(CliptraseError, ValueError):
    """A file is malformed: bad header, truncated, not JSON, ... (CT_ERR_FORMAT)."""

    status = Status.FORMAT


class UnsupportedError(CliptraseError):
    """Well-formed but not supported: dtype, architecture, image type, CPU, a head this build
    does not run (CT_ERR_UNSUPPORTED)."""

    status = Status.UNSUPPORTED


class MissingError(CliptraseError, LookupError):
    """A required tensor or entry is absent (CT_ERR_MISSING)."""

    status = Status.MISSING


class ShapeError(CliptraseError, ValueError):
    """A tensor or array has the wrong shape (CT_ERR_SHAPE), including arrays given from Python."""

    status = Status.SHAPE


class OutOfMemoryError(CliptraseError, MemoryError):
    """Out of memory, or a size that overflows (CT_ERR_NOMEM)."""

    status = Status.NOMEM


class TooLargeError(CliptraseError, ValueError):
    """An input above the documented limits (CT_ERR_TOO_LARGE)."""

    status = Status.TOO_LARGE


class NonFiniteError(CliptraseError, ValueError):
    """NaN or Inf where finite numbers are required (CT_ERR_NONFINITE)."""

    status = Status.NONFINITE


class LibraryError(CliptraseError, ImportError):
    """The shared library cannot be used: not found, not loadable, another version, or missing
    functions. Raised by ``import cliptrase``."""


_BY_STATUS = {
    cls.status: cls
    for cls in (InvalidArgumentError, CliptraseIOError, FormatError, UnsupportedError, MissingError,
                ShapeError, OutOfMemoryError, TooLargeError, NonFiniteError)
}


def error_for(status, message):
    """The exception for a ct_status and its message (CliptraseError for an unknown status)."""
    try:
        status = Status(status)
    except ValueError:
        return CliptraseError(message, status)
    return _BY_STATUS.get(status, CliptraseError)(message, status)
