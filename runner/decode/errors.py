"""Typed decode failures: recorded as corrupt samples with a Lightly-style reason, not crashes."""

from __future__ import annotations


def describe_exception(exc: BaseException) -> str:
    """Lightly-style reason for a failure: exception class name, then its message.

    Args:
        exc: The exception raised while reading or decoding a file.

    Returns:
        For example ``"OSError: image file is truncated"``; just the class name when the
        exception has no message.
    """
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class DecodeError(Exception):
    """A file could not be read or decoded into pixels.

    Attributes:
        reason: Lightly-style reason (``"OSError: image file is truncated"``), as written to
            ``corruptness_check_information.json``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @classmethod
    def from_exception(cls, exc: BaseException) -> DecodeError:
        """Wrap the exception that made decoding fail, keeping its class name in the reason."""
        return cls(describe_exception(exc))
