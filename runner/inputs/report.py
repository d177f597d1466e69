"""What the input loaders did, for ``report.json``: files read, skipped, defaults, classes.

One ``InputRecord`` per resolved input (in the order they were resolved) and one
``ClassCounts`` per prediction task that an input used, over all candidates, so the report
can show the class distribution before and after selection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from runner.inputs.files import Skip

MAX_LISTED = 100
"""Missing files listed by ``to_dict`` per input (all are counted); skips are all listed."""


@dataclass(frozen=True)
class InputRecord:
    """How one input was resolved.

    Attributes:
        source: The input as text (``"SCORES det/uncertainty_margin"``).
        kind: ``NUMERIC``, ``CATEGORICAL`` or ``DISTRIBUTION``.
        files_read: Per-sample files opened.
        missing: Per-sample files that do not exist (for metadata: sample keys without any
            file).
        skipped: Files (or values) not used, with reasons.
        defaults_applied: Samples that got a default value (metadata ``defaultValue``, or the
            value documented for a sample without predictions).
        notes: Other remarks (warnings, metrics computed at selection time).
    """

    source: str
    kind: str
    files_read: int = 0
    missing: tuple[str, ...] = ()
    skipped: tuple[Skip, ...] = ()
    defaults_applied: int = 0
    notes: tuple[str, ...] = ()

    def to_dict(self, *, max_listed: int = MAX_LISTED) -> dict[str, Any]:
        """JSON-ready form; lists at most ``max_listed`` missing files."""
        return {
            "source": self.source,
            "kind": self.kind,
            "files_read": self.files_read,
            "n_missing": len(self.missing),
            "missing": list(self.missing[:max_listed]),
            "n_skipped": len(self.skipped),
            "skipped": [{"file": s.file, "reason": s.reason} for s in self.skipped],
            "defaults_applied": self.defaults_applied,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ClassCounts:
    """Predictions per category of every candidate, for one task.

    Attributes:
        task: The task name.
        categories: Category names in schema order.
        keys: Candidate keys, the rows of ``counts``.
        counts: (N, C) int64: objects (detection), masks (segmentation), instances
            (keypoints) or the predicted class (classification) per sample and category.
    """

    task: str
    categories: tuple[str, ...]
    keys: tuple[str, ...]
    counts: npt.NDArray[np.int64]

    def totals(self, keys: Iterable[str] | None = None) -> dict[str, int]:
        """Counts per category summed over the given keys (all candidates when None).

        Keys that are not candidates are ignored.
        """
        if keys is None:
            summed = self.counts.sum(axis=0)
        else:
            index = {key: row for row, key in enumerate(self.keys)}
            rows = [index[key] for key in keys if key in index]
            summed = self.counts[rows].sum(axis=0)
        return {name: int(n) for name, n in zip(self.categories, summed, strict=True)}


@dataclass
class InputReport:
    """Filled in as inputs are resolved (the resolver appends to it).

    Attributes:
        inputs: One record per distinct resolved input.
        class_counts: Task name -> class counts over all candidates.
    """

    inputs: list[InputRecord] = field(default_factory=list)
    class_counts: dict[str, ClassCounts] = field(default_factory=dict)

    def to_dict(self, *, selected: Iterable[str] | None = None) -> dict[str, Any]:
        """JSON-ready form for ``report.json``.

        Args:
            selected: Selected keys, to add each task's class distribution after selection.

        Returns:
            ``{"inputs": [...], "class_distribution": {task: {"categories", "before",
            "after"?}}}``.
        """
        chosen = list(selected) if selected is not None else None
        distribution: dict[str, Any] = {}
        for task, counts in self.class_counts.items():
            entry: dict[str, Any] = {"before": counts.totals()}
            if chosen is not None:
                entry["after"] = counts.totals(chosen)
            distribution[task] = entry
        return {
            "inputs": [record.to_dict() for record in self.inputs],
            "class_distribution": distribution,
        }
