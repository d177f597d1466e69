"""What every selection strategy provides to the greedy loop: the ``Objective`` protocol.

The loop in :mod:`runner.selection.select` adds one sample at a time. Before each pick it asks
every objective for a score per candidate, combines them as ``Π score ** strength`` and takes
the argmax; it then asks each objective whether that pick would break its stopping condition
and, if not, tells every objective about the pick.

Objectives whose scores never change with the picks (``static``: WEIGHTS without a target
range, SIMILARITY, TYPICALITY) are scored once; the loop multiplies the others in per pick. An
objective that can find the best row of ``factor · score ** strength`` without scoring every
row (:class:`LazyArgmax`: DIVERSITY) takes over the argmax when it is the only one that changes.

Indices are local: row ``i`` of the arrays in :class:`ObjectiveContext`. The loop maps them
back to the caller's indices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from runner.config import StrategyEntry
from runner.inputs.values import InputValues


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
        values: The entry's input resolved for the same rows (``None`` for EMBEDDINGS).
        query: SIMILARITY's query embeddings.  # (Q, D) float
        n_requested: How many rows the loop will pick at most (``None``: no count limit).
    """

    index: int
    entry: StrategyEntry
    embeddings: npt.NDArray[np.floating]
    preselected: npt.NDArray[np.int64]
    seed: int
    values: InputValues | None = None
    query: npt.NDArray[np.floating] | None = None
    n_requested: int | None = None


class Objective(Protocol):
    """One strategy's view of how good each candidate is, given the selection so far."""

    @property
    def name(self) -> str:
        """Short name for stop reasons and the report, e.g. ``"DIVERSITY"``."""
        ...

    @property
    def static(self) -> bool:
        """Whether :meth:`scores` is the same before every pick (scored once by the loop)."""
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


@runtime_checkable
class LazyArgmax(Protocol):
    """An objective that finds its best row without scoring every row (DIVERSITY)."""

    def argmax(
        self,
        *,
        factor: npt.NDArray[np.float64] | None,
        strength: float,
        blocked: npt.NDArray[np.bool_],
    ) -> tuple[int, float] | None:
        """The unblocked row with the largest ``factor · score ** strength``, ties: lowest row.

        Args:
            factor: The product of the static objectives, fixed for the whole loop (the same
                array object on every call), non-negative and finite; ``None`` for 1.  # (N,)
            strength: The objective's exponent.
            blocked: Rows that may not be picked: exactly the rows selected so far.  # (N,)

        Returns:
            The row and its combined score, or ``None`` when this objective cannot do it for
            this ``strength`` (the loop then scores every row).
        """
        ...


ObjectiveBuilder = Callable[[ObjectiveContext], Objective]
"""Builds the objective of one strategy entry; the registry maps strategy types to these."""
