"""How a stage reports progress, without knowing who (if anyone) shows it.

Stage modules take a :class:`StageProgress` argument (default :data:`NO_PROGRESS`) and call
``expect`` when they learn how much work there is, ``advance`` as it gets done, ``note`` for
a step worth announcing before it starts (loading a model), and ``metrics`` for running values
shown beside the count (the training loss, as Lightning's bar shows its logged metrics). They
never draw anything: the terminal bars and the plain lines live in :mod:`runner.console`,
which implements :class:`Progress`; the pipeline hands each stage the reporter's
:class:`StageProgress`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class StageProgress(Protocol):
    """What one running stage reports."""

    def expect(self, n: int) -> None:
        """``n`` more units of work are known to be coming (a file, a video, a thumbnail)."""

    def advance(self, n: int = 1) -> None:
        """``n`` units of work are done."""

    def note(self, text: str) -> None:
        """Announce what the stage starts doing now (``"loading model resnet-18"``)."""

    def metrics(self, values: Mapping[str, float | str]) -> None:
        """The stage's running values now (``{"epoch": "1/3", "loss": 4.21}``), replacing
        the last ones."""


class Progress(Protocol):
    """Makes the :class:`StageProgress` of each stage (one stage at a time)."""

    def stage(self, name: str) -> AbstractContextManager[StageProgress]:
        """A context manager around one stage; it yields the stage's :class:`StageProgress`."""
        ...


class NullProgress:
    """Reports nowhere: the default of every stage function, and for tests."""

    def expect(self, n: int) -> None:
        """Ignore the amount of work."""

    def advance(self, n: int = 1) -> None:
        """Ignore the work done."""

    def note(self, text: str) -> None:
        """Ignore the announcement."""

    def metrics(self, values: Mapping[str, float | str]) -> None:
        """Ignore the running values."""

    def stage(self, name: str) -> AbstractContextManager[StageProgress]:
        """A stage that reports nowhere."""
        return _null_stage()


@contextmanager
def _null_stage() -> Iterator[StageProgress]:
    yield NO_PROGRESS


NO_PROGRESS = NullProgress()
"""The progress of a stage that nobody watches."""
