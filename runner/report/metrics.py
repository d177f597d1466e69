"""What each dashboard metric measures and which direction is better, in the reader's words.

One entry per metric name of ``report.json["analysis"]["dashboard"]["rows"][*]["metric"]``.
The dashboard, the cover's headline and ``report.json`` (``definition``,
``higher_is_better``) all read this table, so a new metric needs one entry here and a row
from :func:`runner.report.analysis_parts.dashboard_rows`; nothing in the templates changes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum


class Better(StrEnum):
    """Which direction of a metric is an improvement."""

    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True)
class MetricInfo:
    """How the report explains one metric.

    Attributes:
        measures: One sentence, in plain words, on what the number says about the selection.
        formula: How it is computed (for ``report.json`` and the definitions list).
        better: Which direction is better.
        caveat: Optional sentence on how to read a surprising value (e.g. a strategy that does
            not aim for this metric).
        caveat_strategies: The caveat applies only when the selection used one of these
            strategy types (empty: always).
    """

    measures: str
    formula: str
    better: Better = Better.HIGHER
    caveat: str = ""
    caveat_strategies: frozenset[str] = frozenset()

    def caveat_for(self, strategies: Collection[str]) -> str:
        """The caveat, if it applies to a selection made with ``strategies`` (type names)."""
        if not self.caveat_strategies or self.caveat_strategies & set(strategies):
            return self.caveat
        return ""

    @property
    def direction(self) -> str:
        """``Higher is better.`` / ``Lower is better.``"""
        return f"{self.better.value.capitalize()} is better."


METRICS: dict[str, MetricInfo] = {
    "diversity": MetricInfo(
        measures="How different the selected samples are from each other: the typical "
        "distance from a selected sample to the closest other selected one.",
        formula="mean distance from a sample to its nearest neighbour within the set",
        caveat="HERDING gives dense regions their share of the picks, as a random draw does, "
        "so its picks there sit closer together and its diversity can be below random's.",
        caveat_strategies=frozenset({"HERDING"}),
    ),
    "coverage": MetricInfo(
        measures="How well the selection stands in for all candidates: how close, on "
        "average, every candidate is to its nearest selected sample (1 would be keeping all).",
        formula="1 / (1 + mean distance from every candidate to its nearest sample of the set)",
        caveat="DIVERSITY spreads the picks out to reach rare, outlying samples rather than "
        "to be close to the average candidate, so its coverage can be slightly below random's.",
        caveat_strategies=frozenset({"DIVERSITY"}),
    ),
    "balance": MetricInfo(
        measures="How evenly the selected objects spread over the classes of a prediction "
        "task (1 is perfectly even, 0 is a single class).",
        formula="entropy of the class distribution / log(number of classes)",
    ),
    "density_match": MetricInfo(
        measures="How closely the selection's spread over the embedding space matches the "
        "spread of all candidates: dense regions should get more picks, sparse ones fewer "
        "(0 would be a perfect match).",
        formula="kernel distance (MMD, Gaussian kernel as HERDING's) between the set and all "
        "candidates on L2-normalised embeddings",
        better=Better.LOWER,
        caveat="DIVERSITY aims for the outskirts of the data, not for its density, so its "
        "density match is usually worse than random's.",
        caveat_strategies=frozenset({"DIVERSITY"}),
    ),
}
"""Metric name -> explanation."""


def explain(metric: str) -> MetricInfo | None:
    """The explanation of ``metric``, or None for a metric this version does not know."""
    return METRICS.get(metric)


def verdict(change: float | None, better: Better | str) -> str:
    """``better than random`` / ``worse than random`` / ``same as random`` for a relative change
    (``selection / random - 1``); empty when there is no change to judge."""
    if change is None:
        return ""
    if abs(change) < 0.0005:
        return "same as random"
    improved = change > 0 if Better(better) is Better.HIGHER else change < 0
    return "better than random" if improved else "worse than random"
