"""The select stage: thresholds filter, then every other strategy joins one greedy loop.

Lightly's algorithm (spec §4.4): THRESHOLD strategies are applied first, as filters. The
remaining strategies pick one sample at a time, the candidate with the highest

    combined = Π_s objective_s ** strength_s

where ``strength == 0`` makes a factor 1 and a negative strength inverts the objective (scores
are clipped to a tiny epsilon first). The loop stops at the requested count, when the
candidates run out, or when a pick would break a stopping condition. With one DIVERSITY
strategy at strength 1 this is exactly k-center greedy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from runner.config import SelectionConfig, StrategyEntry, StrategyType
from runner.selection.objective import Objective, ObjectiveContext
from runner.selection.strategies import BUILDERS, input_key, validate_selection

_EPS = 1e-12  # scores are clipped to this before a negative power (no division by zero)


@dataclass(frozen=True)
class SelectionResult:
    """What the select stage decided, and why.

    Attributes:
        indices: Rows of the candidate arrays, in pick order.
        n_requested: Resolved from ``n_samples`` / ``proportion_samples``; ``None`` for
            ``n_samples: -1`` (no count limit).
        stopped_by: ``"n_samples"``, ``"proportion_samples"``, ``"all candidates selected"``
            or an objective's reason, e.g. ``"DIVERSITY: minimum distance 0.3 reached"``.
        pick_scores: The combined score of each pick (before the first pick of a DIVERSITY
            run without preselected rows this is its random draw in [1, 2)).
        per_strategy: One dict per configured strategy: ``index``, ``input``, ``strategy``,
            ``strength``, ``params`` and what the objective reports (see its ``summary``).
        notes: Human-readable remarks for the report and the log.
    """

    indices: list[int]
    n_requested: int | None
    stopped_by: str
    pick_scores: list[float]
    per_strategy: list[dict[str, object]]
    notes: list[str]


def _jsonable(value: object) -> object:
    """Enums to their strings and dataclasses to dicts, for the report."""
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _params(entry: StrategyEntry) -> dict[str, object]:
    """The fields set on an entry's input and strategy, ``type`` excluded."""
    out: dict[str, object] = {}
    for part, obj in (("input", entry.input), ("strategy", entry.strategy)):
        for f in fields(obj):
            value = getattr(obj, f.name)
            if f.name not in ("type", "strength") and value is not None:
                out[f"{part}.{f.name}"] = _jsonable(value)
    return out


def _preselected_rows(preselected: Sequence[int], n_rows: int) -> npt.NDArray[np.int64]:
    """Validate the preselected rows (the datapool).  # (M,) int64"""
    rows = np.asarray(preselected, dtype=np.int64).reshape(-1)  # (M,)
    if rows.size and (rows.min() < 0 or rows.max() >= n_rows):
        raise ValueError(f"preselected rows must be in [0, {n_rows})")
    if np.unique(rows).size != rows.size:
        raise ValueError("preselected rows must be unique")
    return rows


def _apply_thresholds(cfg: SelectionConfig, candidates: npt.NDArray[np.bool_]) -> list[str]:
    """Filter ``candidates`` in place by every THRESHOLD strategy; return notes.

    No THRESHOLD input is implemented yet (validation rejects them), so this keeps all.
    """
    del cfg, candidates
    return []


def _resolve_count(cfg: SelectionConfig, n_candidates: int) -> tuple[int | None, list[str]]:
    """How many samples to pick, and notes about it."""
    if cfg.proportion_samples is not None:
        n = max(1, round(cfg.proportion_samples * n_candidates))
        note = f"proportion_samples={cfg.proportion_samples:g} of {n_candidates} candidates: {n}"
        return n, [note]
    assert cfg.n_samples is not None  # validated: exactly one of the two
    if cfg.n_samples == -1:
        return None, ["n_samples=-1: no count limit, stopping conditions decide"]
    if cfg.n_samples > n_candidates:
        note = f"n_samples={cfg.n_samples} is larger than the {n_candidates} candidates"
        return cfg.n_samples, [f"{note}; selected all"]
    return cfg.n_samples, []


def _combine(
    objectives: Sequence[Objective], strengths: Sequence[float], n_rows: int
) -> npt.NDArray[np.float64]:
    """``Π objective ** strength`` over the active objectives.  # (N,) float64"""
    combined: npt.NDArray[np.float64] | None = None
    for objective, strength in zip(objectives, strengths, strict=True):
        if strength == 0:
            continue
        scores = objective.scores()  # (N,) a fresh array, ours to modify
        if strength < 0:
            np.maximum(scores, _EPS, out=scores)
        if strength != 1:
            np.power(scores, strength, out=scores)
        if combined is None:
            combined = scores
        else:
            combined *= scores
            np.nan_to_num(combined, copy=False, nan=0.0)  # 0 · inf from extreme strengths
    return np.ones(n_rows) if combined is None else combined


def _greedy(
    objectives: Sequence[Objective],
    strengths: Sequence[float],
    blocked: npt.NDArray[np.bool_],
    limit: int | None,
) -> tuple[list[int], list[float], str | None]:
    """Add the best candidate until ``limit``, exhaustion or a stopping condition.

    Args:
        objectives: One per non-filter strategy.
        strengths: Their exponents.
        blocked: Rows that may not be picked (preselected, filtered); updated in place.  # (N,)
        limit: Count to reach, or ``None`` for no limit.

    Returns:
        Picked rows, their combined scores, and the stop reason (``None``: limit reached).
    """
    picks: list[int] = []
    pick_scores: list[float] = []
    n_free = int(blocked.size - np.count_nonzero(blocked))
    while limit is None or len(picks) < limit:
        if len(picks) == n_free:
            return picks, pick_scores, "all candidates selected"
        combined = _combine(objectives, strengths, blocked.size)  # (N,)
        combined[blocked] = -np.inf
        best = int(np.argmax(combined))  # ties: lowest row
        for objective in objectives:
            reason = objective.should_stop(best)
            if reason is not None:
                return picks, pick_scores, reason
        for objective in objectives:
            objective.update(best)
        blocked[best] = True
        picks.append(best)
        pick_scores.append(float(combined[best]))
    return picks, pick_scores, None


def select(
    *,
    embeddings: npt.NDArray[np.floating],
    cfg: SelectionConfig,
    seed: int,
    preselected: Sequence[int] = (),
) -> SelectionResult:
    """Select samples as configured by Lightly's ``selection_config``.

    Args:
        embeddings: One row per sample, candidates and preselected alike.  # (N, D)
        cfg: The selection config.
        seed: Seeds every random choice; same seed and data, same result.
        preselected: Rows that count as already selected (the datapool); never picked
            again and not counted in ``n_samples``; ``proportion_samples`` is a fraction of
            the other rows.

    Returns:
        The picks in order, with the reasons and per-strategy facts.

    Raises:
        ConfigError: The config is invalid or asks for what is not implemented yet.
        ValueError: ``embeddings`` is not 2-D or ``preselected`` is out of range.
    """
    validate_selection(cfg)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {embeddings.shape}")
    n_rows = embeddings.shape[0]
    pre = _preselected_rows(preselected, n_rows)  # (M,)
    candidates = np.ones(n_rows, dtype=bool)  # (N,)
    candidates[pre] = False
    notes = _apply_thresholds(cfg, candidates)
    n_candidates = int(np.count_nonzero(candidates))
    n_requested, count_notes = _resolve_count(cfg, n_candidates)
    notes += count_notes

    # Work on the rows that matter only: candidates left by the filters plus preselected.
    keep = candidates.copy()  # (N,)
    keep[pre] = True
    rows = np.flatnonzero(keep)  # (R,) local row → global row
    local = embeddings if rows.size == n_rows else embeddings[rows]  # (R, D)
    blocked = ~candidates[rows]  # (R,)
    pre_local = np.searchsorted(rows, pre).astype(np.int64)  # (M,)

    entries = [
        (i, e) for i, e in enumerate(cfg.strategies) if e.strategy.type != StrategyType.THRESHOLD
    ]
    objectives = [
        BUILDERS[StrategyType(e.strategy.type)](
            ObjectiveContext(index=i, entry=e, embeddings=local, preselected=pre_local, seed=seed)
        )
        for i, e in entries
    ]
    strengths = [float(e.strategy.strength) for _, e in entries]
    for (i, e), s in zip(entries, strengths, strict=True):
        if s == 0:
            notes.append(
                f"selection.strategies[{i}] {StrategyType(e.strategy.type).value} has strength 0:"
                " it does not influence the picks (its stopping condition still applies)"
            )
    if entries and all(s == 0 for s in strengths):
        notes.append("every strategy has strength 0: candidates are picked in row order")

    picks, pick_scores, reason = _greedy(objectives, strengths, blocked, n_requested)
    if reason is None:
        reason = "n_samples" if cfg.n_samples is not None else "proportion_samples"

    per_strategy: list[dict[str, object]] = []
    for (i, e), objective in zip(entries, objectives, strict=True):
        per_strategy.append(
            {
                "index": i,
                "input": input_key(e),
                "strategy": StrategyType(e.strategy.type).value,
                "strength": float(e.strategy.strength),
                "params": _params(e),
                **objective.summary(),
            }
        )
    return SelectionResult(
        indices=[int(rows[p]) for p in picks],
        n_requested=n_requested,
        stopped_by=reason,
        pick_scores=pick_scores,
        per_strategy=per_strategy,
        notes=notes,
    )
