"""Typed decode failures: recorded as corrupt samples with a Lightly-style reason, not crashes."""

from __future__ import annotations

import re


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


_TYPE_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)(?::|$)")


def bare_reason(reason: str) -> str:
    """Lightly's reason in ``corruptness_check_information.json``: the bare type name.

    ``"OSError: image file is truncated"`` -> ``"OSError"``; a reason of our own checks that
    names no exception type (a video frame that decodes to nothing) -> ``"Exception"``, as
    Lightly writes for failures that are not a specific error. The full text is kept beside it
    (``corrupt_samples_details``).
    """
    match = _TYPE_NAME.match(reason)
    name = match.group(1).rsplit(".", 1)[-1] if match else ""
    return name if name[:1].isupper() else "Exception"


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
