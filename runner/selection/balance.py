"""BALANCE: move the class distribution of the selection toward a target.

Each row carries a class mass vector: one-hot for CATEGORICAL metadata, the
CLASS_DISTRIBUTION row for predictions (a probability vector, or the sum over a detection's
objects). Classes are gathered into *groups* with target fractions ``t_g``:

* ``TARGET``: one group per class named in ``target``; when the fractions sum to less than 1
  the remainder is the target of one extra group, *all other classes* together. When they sum
  to 1 the classes not named do not count at all (their mass is ignored).
* ``UNIFORM``: one group per class, ``t = 1 / C``.
* ``INPUT``: one group per class, ``t`` = the class's share of the mass of all rows.

With ``M`` the selected mass per group (preselected rows included), ``n = Σ M`` and
``L(M) = Σ_g (M_g / n - t_g)²`` (``Σ t_g²`` for an empty selection), the gain of row ``i`` is
``L(M) - L(M + a_i)``: how much adding it moves the selected distribution toward the target
(negative: away). Gains are divided by the largest absolute gain of the step and mapped to
``(1 + gain) / 2``, floored at 1e-6: the best row scores 1, a row that changes nothing 0.5 and
the row that moves furthest away ~0. The scale does not shrink as the selection grows, so the
objective keeps its weight in the product with other strategies.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from runner.config import BalanceDistribution
from runner.inputs.values import InputValues, ValueKind
from runner.selection.objective import ObjectiveContext

F64 = npt.NDArray[np.float64]
_FLOOR = 1e-6
OTHER = "<other classes>"


def class_mass(values: InputValues) -> tuple[F64, tuple[str, ...]]:
    """The class mass of every row and the class names.

    Args:
        values: A CATEGORICAL or DISTRIBUTION input.

    Returns:
        Mass per row and class, and the classes.  # (N, C) float64
    """
    if values.kind is ValueKind.DISTRIBUTION:
        mass = np.nan_to_num(np.asarray(values.values, dtype=np.float64), nan=0.0)
        return np.maximum(mass, 0.0), tuple(values.categories)
    labels = np.asarray([str(v) for v in values.values], dtype=object)  # (N,)
    classes = tuple(values.categories) or tuple(sorted(set(labels.tolist())))
    extra = sorted(set(labels.tolist()) - set(classes))
    classes = classes + tuple(extra)
    index = {c: j for j, c in enumerate(classes)}
    mass = np.zeros((labels.size, len(classes)))
    mass[np.arange(labels.size), [index[str(v)] for v in labels]] = 1.0
    return mass, classes


def groups(
    *,
    mass: F64,
    classes: tuple[str, ...],
    target: Mapping[str, float] | None,
    distribution: BalanceDistribution | str | None,
) -> tuple[F64, F64, tuple[str, ...], list[str]]:
    """Group the classes and set their targets (see the module docstring).

    Args:
        mass: Mass per row and class.  # (N, C)
        classes: The class names.
        target: ``{class: fraction}`` for TARGET.
        distribution: ``TARGET`` (default when ``target`` is set), ``UNIFORM`` or ``INPUT``.

    Returns:
        Mass per row and group (N, G), targets (G,), group names, notes.
    """
    mode = BalanceDistribution(distribution or BalanceDistribution.TARGET)
    if mode is BalanceDistribution.UNIFORM:
        return mass, np.full(len(classes), 1.0 / max(len(classes), 1)), classes, []
    if mode is BalanceDistribution.INPUT:
        total = mass.sum(axis=0)  # (C,)
        share = total / total.sum() if total.sum() > 0 else np.zeros(len(classes))
        return mass, share, classes, []
    assert target is not None  # validated: TARGET needs a target
    index = {c: j for j, c in enumerate(classes)}
    names = [str(c) for c in target]
    notes = [f"BALANCE target class {c!r} is not in the input" for c in names if c not in index]
    columns = [mass[:, index[c]] if c in index else np.zeros(mass.shape[0]) for c in names]
    fractions = [float(target[c]) for c in target]
    rest = 1.0 - sum(fractions)
    if rest > 1e-9:
        others = [j for c, j in index.items() if c not in target]
        columns.append(mass[:, others].sum(axis=1) if others else np.zeros(mass.shape[0]))
        fractions.append(rest)
        names.append(OTHER)
    return np.stack(columns, axis=1), np.asarray(fractions), tuple(names), notes


def _loss_after(
    *, selected: F64, targets: F64, mass_dot: F64, row_sum: F64, row_sq: F64, row_t: F64
) -> F64:
    """``L(M + a_i)`` for every row, expanded so one pick costs one matrix-vector product.

    ``Σ_g ((M_g + a_g) / n' - t_g)²`` with ``n' = ΣM + Σa`` equals
    ``(|M|² + 2 M·a + |a|²) / n'² - 2 (t·M + t·a) / n' + |t|²`` (``|t|²`` when ``n' = 0``).

    Args:
        selected: ``M``, the selected mass per group.  # (G,)
        targets: ``t``.  # (G,)
        mass_dot: ``M·a_i``.  # (R,)
        row_sum: ``Σ a_i``.  # (R,)
        row_sq: ``|a_i|²``.  # (R,)
        row_t: ``t·a_i``.  # (R,)

    Returns:
        The loss after adding each row.  # (R,)
    """
    total = row_sum + float(selected.sum())  # (R,) n'
    safe = np.where(total > 0, total, 1.0)
    squares = (float(selected @ selected) + 2.0 * mass_dot + row_sq) / safe**2
    cross = 2.0 * (float(targets @ selected) + row_t) / safe
    loss: F64 = np.where(total > 0, squares - cross, 0.0) + float(targets @ targets)
    return loss


class BalanceObjective:
    """Prefer rows whose classes move the selected distribution toward the target."""

    def __init__(
        self,
        *,
        mass: F64,
        targets: F64,
        names: tuple[str, ...],
        preselected: npt.NDArray[np.int64],
        notes: tuple[str, ...] = (),
    ) -> None:
        """Set up the objective.

        Args:
            mass: Mass per row and group.  # (N, G)
            targets: Target fraction per group.  # (G,)
            names: Group names (for the report).
            preselected: Rows already selected; their mass starts the selection's.  # (M,)
            notes: Remarks for the report (e.g. a target class missing from the input).
        """
        self._mass = mass  # (N, G)
        self._targets = targets  # (G,)
        self._names = names
        self._selected = mass[preselected].sum(axis=0)  # (G,)
        self._row_sum = mass.sum(axis=1)  # (N,)
        self._row_sq = np.einsum("ng,ng->n", mass, mass)  # (N,)
        self._row_t = mass @ targets  # (N,)
        self._notes = list(notes)

    @property
    def name(self) -> str:
        """``"BALANCE"``."""
        return "BALANCE"

    @property
    def static(self) -> bool:
        """``False``: the selected distribution changes with every pick."""
        return False

    def scores(self) -> F64:
        """``(1 + gain / max |gain|) / 2`` per row, floored.  # (N,) float64"""
        zero = np.zeros(1)
        now = _loss_after(
            selected=self._selected,
            targets=self._targets,
            mass_dot=zero,
            row_sum=zero,
            row_sq=zero,
            row_t=zero,
        )
        after = _loss_after(
            selected=self._selected,
            targets=self._targets,
            mass_dot=self._mass @ self._selected,
            row_sum=self._row_sum,
            row_sq=self._row_sq,
            row_t=self._row_t,
        )
        gain = float(now[0]) - after  # (N,)
        top = float(np.abs(gain).max()) if gain.size else 0.0
        scores = 0.5 + 0.5 * gain / top if top > 0 else np.full(gain.size, 0.5)
        return np.maximum(scores, _FLOOR)

    def should_stop(self, picked: int) -> str | None:
        """BALANCE has no stopping condition."""
        del picked
        return None

    def update(self, picked: int) -> None:
        """Add the pick's mass to the selection's."""
        self._selected += self._mass[picked]

    def summary(self) -> dict[str, object]:
        """Target and reached fraction per group."""
        total = float(self._selected.sum())
        reached = self._selected / total if total > 0 else np.zeros_like(self._selected)
        return {
            "groups": list(self._names),
            "target": [float(t) for t in self._targets],
            "reached": [float(r) for r in reached],
            "selected_mass": [float(m) for m in self._selected],
            "notes": self._notes,
        }


def build_balance(ctx: ObjectiveContext) -> BalanceObjective:
    """Build the BALANCE objective of one strategy entry.

    Args:
        ctx: The validated entry and its resolved CATEGORICAL or DISTRIBUTION values.

    Returns:
        The objective.
    """
    assert ctx.values is not None  # resolved by select() for every non-EMBEDDINGS input
    mass, classes = class_mass(ctx.values)
    strategy = ctx.entry.strategy
    grouped, targets, names, notes = groups(
        mass=mass, classes=classes, target=strategy.target, distribution=strategy.distribution
    )
    return BalanceObjective(
        mass=grouped,
        targets=targets,
        names=names,
        preselected=ctx.preselected,
        notes=tuple(notes),
    )
