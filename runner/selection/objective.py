"""What every selection strategy provides to the greedy loop: the ``Objective`` protocol.

The loop in :mod:`runner.selection.select` adds one sample at a time. Before each pick it asks
every objective for a score per candidate, combines them as ``Π score ** strength`` and takes
the argmax; it then asks each objective whether that pick would break its stopping condition
and, if not, tells every objective about the pick.

Indices are local: row ``i`` of the arrays in :class:`ObjectiveContext`. The loop maps them
back to the caller's indices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from runner.config import StrategyEntry


@dataclass(frozen=True)
class ObjectiveContext:
    """Everything a strategy may build its objective from.

    Attributes:
        index: Position of the strategy in ``selection.strategies`` (for messages).
        entry: The strategy entry, already validated.
        embeddings: Embeddings of every row the loop works on, candidates and preselected.
            # (N, D) float, any scale
        preselected: Rows that count as already selected (the datapool).  # (M,) int64
        seed: The run's seed; objectives draw their randomness from it.
    """

    index: int
    entry: StrategyEntry
    embeddings: npt.NDArray[np.floating]
    preselected: npt.NDArray[np.int64]
    seed: int


class Objective(Protocol):
    """One strategy's view of how good each candidate is, given the selection so far."""

    @property
    def name(self) -> str:
        """Short name for stop reasons and the report, e.g. ``"DIVERSITY"``."""
        ...

    def scores(self) -> npt.NDArray[np.float64]:
        """Score every row given what is selected so far.

        Returns:
            A new array the caller may modify, non-negative and finite.  # (N,) float64
            Rows already selected may have any value; the loop masks them.
        """
        ...

    def should_stop(self, picked: int) -> str | None:
        """Whether adding row ``picked`` would break this objective's stopping condition.

        Args:
            picked: The row the loop is about to add.

        Returns:
            A one-line stop reason, or ``None`` to go on.
        """
        ...

    def update(self, picked: int) -> None:
        """Record that row ``picked`` was added to the selection.

        Args:
            picked: The row just added.
        """
        ...

    def summary(self) -> dict[str, object]:
        """JSON-friendly facts for the report: what this objective did during the run."""
        ...


ObjectiveBuilder = Callable[[ObjectiveContext], Objective]
"""Builds the objective of one strategy entry; the registry maps strategy types to these."""
