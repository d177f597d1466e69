"""The contract between input loaders and the selection engine.

An input (Lightly's ``{"type": "SCORES", "task": ..., "score": ...}`` etc.) resolves to one
value per candidate, aligned with the candidates' keys. The selection engine never reads files;
loaders never know about strategies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from runner.config import SelectionInput


class ValueKind(StrEnum):
    """What one input gives per sample."""

    NUMERIC = "NUMERIC"  # (N,) float64: scores, numeric metadata, CATEGORY_COUNT, RANDOM
    CATEGORICAL = "CATEGORICAL"  # (N,) str labels: categorical metadata
    DISTRIBUTION = "DISTRIBUTION"  # (N, C) float64 rows: CLASS_DISTRIBUTION over categories


@dataclass(frozen=True)
class InputValues:
    """Values of one input for every candidate, in candidate order.

    Attributes:
        kind: numeric, categorical or a class distribution.
        values: (N,) float64 for NUMERIC, (N,) str (dtype object or unicode) for CATEGORICAL,
            (N, C) float64 for DISTRIBUTION.
        categories: column names of a DISTRIBUTION (class names from the task schema), or the
            sorted levels of a CATEGORICAL input.
        source: a human-readable name for reports ("SCORES detection/uncertainty_margin").
        notes: what the loader did (files skipped with reasons, defaults applied), for reports.
    """

    kind: ValueKind
    values: np.ndarray
    categories: tuple[str, ...] = ()
    source: str = ""
    notes: tuple[str, ...] = field(default=())


InputResolver = Callable[[SelectionInput], InputValues]
"""Resolves a non-EMBEDDINGS input to its values for the current candidates."""
