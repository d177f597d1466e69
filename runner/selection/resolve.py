"""Resolve the inputs of a selection config to values per row, before any selection work.

Every non-EMBEDDINGS input becomes an :class:`~runner.inputs.values.InputValues` aligned with
the rows given to :func:`runner.selection.select.select` (candidates and preselected alike):
RANDOM here (:mod:`runner.selection.random_input`), the others through the caller's
``resolve_input`` (the loaders of :mod:`runner.inputs`). An input used by several strategies
is resolved once. SIMILARITY's query set comes from the caller's ``query_keys``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from runner.config import InputType, SelectionConfig, SelectionInput, StrategyType
from runner.errors import ConfigError
from runner.inputs.values import InputResolver, InputValues, ValueKind
from runner.selection.random_input import random_values
from runner.selection.strategies import input_key

QueryKeys = Callable[[SelectionInput], Sequence[str]]

# Which kinds of values each strategy takes.
KINDS: dict[StrategyType, tuple[ValueKind, ...]] = {
    StrategyType.WEIGHTS: (ValueKind.NUMERIC,),
    StrategyType.THRESHOLD: (ValueKind.NUMERIC,),
    StrategyType.BALANCE: (ValueKind.CATEGORICAL, ValueKind.DISTRIBUTION),
}


def _identity(selection_input: SelectionInput) -> str:
    """A hashable identity of an input's fields, to resolve shared inputs once."""
    fields = {
        name: getattr(selection_input, name)
        for name in ("type", "task", "score", "key", "name", "random_seed", "categories")
    }
    return json.dumps({k: (str(v) if v is not None else None) for k, v in fields.items()})


def _check_shape(values: InputValues, n_rows: int, where: str) -> None:
    """The resolver must give one value (row) per row given to select()."""
    shape = np.shape(values.values)
    ok = shape[:1] == (n_rows,) and (
        len(shape) == 2 if values.kind is ValueKind.DISTRIBUTION else len(shape) == 1
    )
    if values.kind is ValueKind.DISTRIBUTION and ok and shape[1] != len(values.categories):
        ok = False
    if not ok:
        raise ValueError(
            f"{where}: the input resolver returned {values.kind.value} values of shape {shape}"
            f" for {n_rows} rows (categories: {len(values.categories)})"
        )


def _check_kind(values: InputValues, strategy: StrategyType, key: str, where: str) -> None:
    """WEIGHTS and THRESHOLD need numbers, BALANCE classes."""
    allowed = KINDS.get(strategy, ())
    if values.kind in allowed:
        return
    wanted = " or ".join(k.value.lower() for k in allowed)
    source = values.source or key
    raise ConfigError(
        f"{where}: {strategy.value} needs a {wanted} input; {source} is {values.kind.value.lower()}"
    )


def resolve_values(
    cfg: SelectionConfig,
    *,
    keys: Sequence[str],
    seed: int,
    resolve_input: InputResolver | None,
) -> tuple[dict[int, InputValues], list[str]]:
    """Resolve the input of every non-EMBEDDINGS strategy.

    Args:
        cfg: A validated selection config.
        keys: The key of every row.
        seed: The run's seed (RANDOM without ``random_seed``).
        resolve_input: Resolves SCORES, METADATA and PREDICTIONS inputs.

    Returns:
        Values by strategy index, and the loaders' notes.

    Raises:
        ConfigError: An input is needed but no resolver is given, or has the wrong kind.
        ValueError: The resolver's values do not match the rows.
    """
    resolved: dict[int, InputValues] = {}
    cache: dict[str, InputValues] = {}
    notes: list[str] = []
    for i, entry in enumerate(cfg.strategies):
        itype = InputType(entry.input.type)
        if itype is InputType.EMBEDDINGS:
            continue
        where = f"selection.strategies[{i}]"
        identity = _identity(entry.input)
        if identity not in cache:
            if itype is InputType.RANDOM:
                own = entry.input.random_seed
                cache[identity] = random_values(keys, seed if own is None else own)
            elif resolve_input is None:
                raise ConfigError(f"{where}: input {itype.value} needs an input resolver")
            else:
                values = resolve_input(entry.input)
                _check_shape(values, len(keys), where)
                notes += [f"{values.source or itype.value}: {n}" for n in values.notes]
                cache[identity] = values
        values = cache[identity]
        _check_kind(values, StrategyType(entry.strategy.type), input_key(entry), where)
        resolved[i] = values
    return resolved, notes


def subset(values: InputValues, rows: npt.NDArray[np.int64]) -> InputValues:
    """The same input restricted to ``rows``."""
    return InputValues(
        kind=values.kind,
        values=np.asarray(values.values)[rows],
        categories=values.categories,
        source=values.source,
        notes=values.notes,
    )


def query_rows(
    cfg: SelectionConfig, *, keys: Sequence[str], query_keys: QueryKeys | None
) -> tuple[dict[int, npt.NDArray[np.int64]], list[str]]:
    """The query rows of every SIMILARITY strategy.

    Args:
        cfg: A validated selection config.
        keys: The key of every row.
        query_keys: Maps an EMBEDDINGS input with ``tag_name`` to the query samples' keys.

    Returns:
        Query rows by strategy index, and notes.

    Raises:
        ConfigError: No ``query_keys`` is given, or none of a tag's samples is a row.
    """
    out: dict[int, npt.NDArray[np.int64]] = {}
    notes: list[str] = []
    index: Mapping[str, int] | None = None
    for i, entry in enumerate(cfg.strategies):
        if StrategyType(entry.strategy.type) is not StrategyType.SIMILARITY:
            continue
        where = f"selection.strategies[{i}]"
        if query_keys is None:
            raise ConfigError(f"{where}: SIMILARITY needs a query set, and none can be found")
        index = index if index is not None else {k: r for r, k in enumerate(keys)}
        wanted = list(query_keys(entry.input))
        rows = sorted({index[k] for k in wanted if k in index})
        tag = entry.input.tag_name
        missing = [k for k in wanted if k not in index]
        if not rows:
            raise ConfigError(
                f"{where}: none of the {len(wanted)} samples of tag {tag!r} is in this input"
            )
        if missing:
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            notes.append(f"tag {tag!r}: {len(missing)} samples are not in this input ({shown})")
        if entry.input.dataset_id is not None:
            notes.append(f"{where}: dataset_id is ignored locally; the query is tag {tag!r}")
        notes.append(f"tag {tag!r}: {len(rows)} query samples, not selectable themselves")
        out[i] = np.asarray(rows, dtype=np.int64)
    return out, notes
