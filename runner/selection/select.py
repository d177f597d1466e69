"""The select stage: thresholds filter, then every other strategy joins one greedy loop.

Lightly's algorithm (spec §4.4): THRESHOLD strategies are applied first, as filters. The
remaining strategies pick one sample at a time, the candidate with the highest

    combined = Π_s objective_s ** strength_s

where ``strength == 0`` makes a factor 1 and a negative strength inverts the objective (scores
are clipped to a tiny epsilon first); see :mod:`runner.selection.greedy`. The loop stops at
the requested count, when the candidates run out, or when a pick would break a stopping
condition. With one DIVERSITY strategy at strength 1 this is exactly k-center greedy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from runner.config import SelectionConfig, StrategyEntry, StrategyType
from runner.inputs.values import InputResolver, InputValues
from runner.progress import NO_PROGRESS, StageProgress
from runner.selection.greedy import greedy
from runner.selection.objective import ObjectiveContext
from runner.selection.resolve import QueryKeys, query_rows, resolve_values, subset
from runner.selection.strategies import BUILDERS, input_key, validate_selection
from runner.selection.threshold import apply_threshold


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
        per_strategy: One dict per configured strategy, in config order: ``index``,
            ``input``, ``strategy``, ``strength``, ``params`` and what the objective reports
            (see its ``summary``); THRESHOLD entries report ``condition``, ``removed`` and
            ``kept``.
        notes: Human-readable remarks for the report and the log.
        n_candidates: Candidates left after the filters (thresholds, SIMILARITY queries).
    """

    indices: list[int]
    n_requested: int | None
    stopped_by: str
    pick_scores: list[float]
    per_strategy: list[dict[str, object]]
    notes: list[str]
    n_candidates: int | None = field(default=None)


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


def _apply_thresholds(
    cfg: SelectionConfig,
    values: dict[int, InputValues],
    candidates: npt.NDArray[np.bool_],
) -> tuple[dict[int, dict[str, object]], list[str]]:
    """Filter ``candidates`` in place by every THRESHOLD strategy, in config order."""
    reports: dict[int, dict[str, object]] = {}
    notes: list[str] = []
    for i, entry in enumerate(cfg.strategies):
        if StrategyType(entry.strategy.type) is not StrategyType.THRESHOLD:
            continue
        assert entry.strategy.threshold is not None and entry.strategy.operation is not None
        report = apply_threshold(
            values=np.asarray(values[i].values, dtype=np.float64),
            operation=entry.strategy.operation,
            threshold=float(entry.strategy.threshold),
            candidates=candidates,
        )
        reports[i] = report
        notes.append(
            f"selection.strategies[{i}] THRESHOLD {input_key(entry)} {report['condition']}:"
            f" removed {report['removed']}, kept {report['kept']}"
        )
    return reports, notes


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


def _strength_notes(cfg: SelectionConfig) -> list[str]:
    """Remarks about strategies that do not influence the picks."""
    notes = []
    entries = [(i, e) for i, e in enumerate(cfg.strategies) if e.strategy.type != "THRESHOLD"]
    for i, e in entries:
        if e.strategy.strength == 0:
            notes.append(
                f"selection.strategies[{i}] {StrategyType(e.strategy.type).value} has strength 0:"
                " it does not influence the picks (its stopping condition still applies)"
            )
    if entries and all(e.strategy.strength == 0 for _, e in entries):
        notes.append("every strategy has strength 0: candidates are picked in row order")
    if not entries:
        notes.append("only THRESHOLD strategies: the candidates left are picked in row order")
    return notes


def _describe(entry: StrategyEntry, index: int) -> dict[str, object]:
    """The report's description of one strategy entry."""
    return {
        "index": index,
        "input": input_key(entry),
        "strategy": StrategyType(entry.strategy.type).value,
        "strength": float(entry.strategy.strength),
        "params": _params(entry),
    }


@dataclass
class _Prepared:
    """Candidates after the filters, and what the filters said."""

    candidates: npt.NDArray[np.bool_]  # (N,)
    values: dict[int, InputValues]
    queries: dict[int, npt.NDArray[np.int64]]
    thresholds: dict[int, dict[str, object]]
    notes: list[str]


def _prepare(
    cfg: SelectionConfig,
    *,
    keys: Sequence[str],
    seed: int,
    pre: npt.NDArray[np.int64],
    resolve_input: InputResolver | None,
    query_keys: QueryKeys | None,
) -> _Prepared:
    """Resolve the inputs and apply the filters: thresholds, then SIMILARITY queries."""
    values, notes = resolve_values(cfg, keys=keys, seed=seed, resolve_input=resolve_input)
    queries, query_notes = query_rows(cfg, keys=keys, query_keys=query_keys)
    candidates = np.ones(len(keys), dtype=bool)  # (N,)
    candidates[pre] = False
    thresholds, threshold_notes = _apply_thresholds(cfg, values, candidates)
    for rows in queries.values():
        candidates[rows] = False
    return _Prepared(candidates, values, queries, thresholds, notes + threshold_notes + query_notes)


def select(
    *,
    embeddings: npt.NDArray[np.floating],
    cfg: SelectionConfig,
    seed: int,
    preselected: Sequence[int] = (),
    keys: Sequence[str] | None = None,
    resolve_input: InputResolver | None = None,
    query_keys: QueryKeys | None = None,
    progress: StageProgress = NO_PROGRESS,
) -> SelectionResult:
    """Select samples as configured by Lightly's ``selection_config``.

    Args:
        embeddings: One row per sample, candidates and preselected alike.  # (N, D)
        cfg: The selection config.
        seed: Seeds every random choice; same seed and data, same result.
        preselected: Rows that count as already selected (the datapool); never picked
            again and not counted in ``n_samples``; ``proportion_samples`` is a fraction of
            the other rows.
        keys: The sample key (relative file name) of every row; default: the row numbers as
            strings. RANDOM values and SIMILARITY queries are matched by key.
        resolve_input: Resolves SCORES, METADATA and PREDICTIONS inputs to values for every
            row (same order as ``embeddings``); needed only when such inputs are used.
        query_keys: Maps a SIMILARITY input (its ``tag_name``) to the keys of the query
            samples; they must be rows of ``embeddings`` and are not selected themselves.
        progress: Told of every pick of the greedy loop.

    Returns:
        The picks in order, with the reasons and per-strategy facts.

    Raises:
        ConfigError: The config is invalid, asks for what is not implemented, or an input
            cannot be resolved.
        ValueError: ``embeddings`` is not 2-D, ``keys`` or ``preselected`` do not match it,
            or the resolver's values do not match the rows.
    """
    validate_selection(cfg)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {embeddings.shape}")
    n_rows = embeddings.shape[0]
    keys = [str(i) for i in range(n_rows)] if keys is None else keys
    if len(keys) != n_rows:
        raise ValueError(f"keys has {len(keys)} entries for {n_rows} embeddings")
    pre = _preselected_rows(preselected, n_rows)  # (M,)
    prep = _prepare(
        cfg, keys=keys, seed=seed, pre=pre, resolve_input=resolve_input, query_keys=query_keys
    )
    n_candidates = int(np.count_nonzero(prep.candidates))
    notes = prep.notes + _strength_notes(cfg)
    if n_candidates == 0 and prep.thresholds:
        notes.append("no candidate is left after the THRESHOLD filters: nothing selected")
        reason = "no candidates left after THRESHOLD"
        return _result(cfg, prep, [], [], None, reason, notes, n_requested=0)
    n_requested, count_notes = _resolve_count(cfg, n_candidates)
    notes += count_notes

    # Work on the rows that matter only: candidates left by the filters plus preselected.
    keep = prep.candidates.copy()  # (N,)
    keep[pre] = True
    rows = np.flatnonzero(keep)  # (R,) local row → global row
    local = embeddings if rows.size == n_rows else embeddings[rows]  # (R, D)
    blocked = ~prep.candidates[rows]  # (R,)
    pre_local = np.searchsorted(rows, pre).astype(np.int64)  # (M,)
    entries = [(i, e) for i, e in enumerate(cfg.strategies) if e.strategy.type != "THRESHOLD"]
    objectives = [
        BUILDERS[StrategyType(e.strategy.type)](
            ObjectiveContext(
                index=i,
                entry=e,
                embeddings=local,
                preselected=pre_local,
                seed=seed,
                values=subset(prep.values[i], rows) if i in prep.values else None,
                query=embeddings[prep.queries[i]] if i in prep.queries else None,
                n_requested=n_requested,
            )
        )
        for i, e in entries
    ]
    strengths = [float(e.strategy.strength) for _, e in entries]
    outcome = greedy(objectives, strengths, blocked, n_requested, progress)
    reason = outcome.reason or ("n_samples" if cfg.n_samples is not None else "proportion_samples")
    summaries = {i: o.summary() for (i, _), o in zip(entries, objectives, strict=True)}
    for summary in summaries.values():
        extra = summary.get("notes")
        notes += [str(n) for n in extra] if isinstance(extra, list) else []
    picks = [int(rows[p]) for p in outcome.picks]
    return _result(cfg, prep, picks, outcome.scores, summaries, reason, notes, n_requested)


def _result(
    cfg: SelectionConfig,
    prep: _Prepared,
    picks: list[int],
    scores: list[float],
    summaries: dict[int, dict[str, object]] | None,
    reason: str,
    notes: list[str],
    n_requested: int | None,
) -> SelectionResult:
    """Assemble the result; per-strategy facts in config order."""
    per_strategy = []
    for i, entry in enumerate(cfg.strategies):
        facts = prep.thresholds.get(i) or (summaries or {}).get(i) or {}
        per_strategy.append({**_describe(entry, i), **facts})
    return SelectionResult(
        indices=picks,
        n_requested=n_requested,
        stopped_by=reason,
        pick_scores=scores,
        per_strategy=per_strategy,
        notes=notes,
        n_candidates=int(np.count_nonzero(prep.candidates)),
    )
