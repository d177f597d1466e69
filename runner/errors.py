"""Errors that are the user's to fix: the CLI prints them as one line, without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the config or the data that the user can fix; one line, non-zero exit."""


class ConfigError(UserError):
    """The configuration is invalid (unknown key, wrong type, bad path, bad combination)."""


class DataError(UserError):
    """The data cannot be processed as configured (no images found, unreadable files file)."""


class MissingDependencyError(UserError):
    """An optional library or its system libraries are not installed."""
