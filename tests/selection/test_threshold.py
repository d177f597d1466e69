"""THRESHOLD: a filter first, exact comparison semantics, counts, and empty results."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from runner.config import (
    InputType,
    SelectionConfig,
    SelectionInput,
    SelectionStrategy,
    StrategyEntry,
    StrategyType,
    ThresholdOperation,
)
from runner.errors import ConfigError
from runner.inputs.values import InputValues, ValueKind
from runner.selection.select import select
from runner.selection.threshold import threshold_mask

OPS = {
    ThresholdOperation.SMALLER: np.less,
    ThresholdOperation.SMALLER_EQUAL: np.less_equal,
    ThresholdOperation.BIGGER: np.greater,
    ThresholdOperation.BIGGER_EQUAL: np.greater_equal,
}

# Every numeric input that THRESHOLD takes, as (input fields, what the fake resolver returns)
NUMERIC_INPUTS = {
    "SCORES": SelectionInput(type=InputType.SCORES, task="t", score="uncertainty_margin"),
    "METADATA": SelectionInput(type=InputType.METADATA, key="lightly.sharpness"),
    "CATEGORY_COUNT": SelectionInput(
        type=InputType.PREDICTIONS, task="t", name="CATEGORY_COUNT", categories=["car"]
    ),
    "RANDOM": SelectionInput(type=InputType.RANDOM, random_seed=3),
}


def embeddings(n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    x = np.random.default_rng(seed).standard_normal((n, 8)).astype(np.float32)
    return x


def values_for(name: str, n: int) -> npt.NDArray[np.float64]:
    """Values with many exact ties at the threshold 0.5 (or 2 for counts)."""
    rng = np.random.default_rng(1)
    if name == "CATEGORY_COUNT":
        return rng.integers(0, 5, n).astype(np.float64)
    return np.round(rng.uniform(0, 1, n), 1)


def threshold_entry(
    selection_input: SelectionInput, op: ThresholdOperation, value: float
) -> StrategyEntry:
    strategy = SelectionStrategy(type=StrategyType.THRESHOLD, threshold=value, operation=op)
    return StrategyEntry(input=selection_input, strategy=strategy)


def diversity() -> StrategyEntry:
    return StrategyEntry(
        input=SelectionInput(type=InputType.EMBEDDINGS),
        strategy=SelectionStrategy(type=StrategyType.DIVERSITY),
    )


@pytest.mark.parametrize("name", sorted(NUMERIC_INPUTS))
@pytest.mark.parametrize("op", list(ThresholdOperation))
def test_every_selected_value_satisfies_the_operation(name: str, op: ThresholdOperation) -> None:
    n = 300
    values = values_for(name, n)
    if name == "RANDOM":
        from runner.selection.random_input import random_values

        values = random_values([str(i) for i in range(n)], 3).values
    limit = 2.0 if name == "CATEGORY_COUNT" else 0.5
    cfg = SelectionConfig(
        n_samples=n,
        strategies=[threshold_entry(NUMERIC_INPUTS[name], op, limit), diversity()],
    )
    result = select(
        embeddings=embeddings(n),
        cfg=cfg,
        seed=0,
        resolve_input=lambda _: InputValues(kind=ValueKind.NUMERIC, values=values),
    )
    passing = OPS[op](values, limit)
    assert sorted(result.indices) == sorted(np.flatnonzero(passing).tolist())  # all, and only
    assert result.per_strategy[0]["removed"] == int(np.count_nonzero(~passing))
    assert result.per_strategy[0]["kept"] == int(np.count_nonzero(passing))
    assert result.n_candidates == int(np.count_nonzero(passing))


def test_ties_at_the_threshold_follow_the_operation_exactly() -> None:
    values = np.array([0.1, 0.2, 0.2, 0.3])
    assert threshold_mask(values, "SMALLER", 0.2).tolist() == [True, False, False, False]
    assert threshold_mask(values, "SMALLER_EQUAL", 0.2).tolist() == [True, True, True, False]
    assert threshold_mask(values, "BIGGER", 0.2).tolist() == [False, False, False, True]
    assert threshold_mask(values, "BIGGER_EQUAL", 0.2).tolist() == [False, True, True, True]
    assert not threshold_mask(np.array([np.nan]), "SMALLER", 1.0).any()  # no value: removed


def test_thresholds_combine_and_count_in_order() -> None:
    n = 100
    a = np.arange(n, dtype=np.float64)  # keep >= 20
    b = np.arange(n, dtype=np.float64)[::-1]  # keep < 50, i.e. rows > 49
    inputs = {"a": a, "b": b}
    cfg = SelectionConfig(
        n_samples=1000,
        strategies=[
            threshold_entry(
                SelectionInput(type=InputType.METADATA, key="a"),
                ThresholdOperation.BIGGER_EQUAL,
                20,
            ),
            threshold_entry(
                SelectionInput(type=InputType.METADATA, key="b"), ThresholdOperation.SMALLER, 50
            ),
            diversity(),
        ],
    )
    result = select(
        embeddings=embeddings(n),
        cfg=cfg,
        seed=0,
        resolve_input=lambda i: InputValues(kind=ValueKind.NUMERIC, values=inputs[str(i.key)]),
    )
    assert sorted(result.indices) == list(range(50, 100))
    assert (result.per_strategy[0]["removed"], result.per_strategy[1]["removed"]) == (20, 30)
    assert any("THRESHOLD METADATA value >= 20: removed 20, kept 80" in n for n in result.notes)


def test_nothing_survives_selects_nothing_with_a_note() -> None:
    n = 50
    cfg = SelectionConfig(
        proportion_samples=0.5,
        strategies=[
            threshold_entry(NUMERIC_INPUTS["SCORES"], ThresholdOperation.BIGGER, 2.0),
            diversity(),
        ],
    )
    result = select(
        embeddings=embeddings(n),
        cfg=cfg,
        seed=0,
        resolve_input=lambda _: InputValues(kind=ValueKind.NUMERIC, values=np.ones(n)),
    )
    assert result.indices == []
    assert result.stopped_by == "no candidates left after THRESHOLD"
    assert any("no candidate is left" in note for note in result.notes)
    assert result.per_strategy[0]["removed"] == n


def test_preselected_rows_are_not_counted_as_removed() -> None:
    n = 20
    cfg = SelectionConfig(
        n_samples=20,
        strategies=[
            threshold_entry(NUMERIC_INPUTS["SCORES"], ThresholdOperation.BIGGER, 0.5),
            diversity(),
        ],
    )
    values = np.where(np.arange(n) < 10, 0.0, 1.0)
    result = select(
        embeddings=embeddings(n),
        cfg=cfg,
        seed=0,
        preselected=[0, 10],
        resolve_input=lambda _: InputValues(kind=ValueKind.NUMERIC, values=values),
    )
    assert sorted(result.indices) == list(range(11, 20))
    assert result.per_strategy[0]["removed"] == 9  # rows 1..9; row 0 was preselected


def test_categorical_input_is_refused() -> None:
    n = 10
    cfg = SelectionConfig(
        n_samples=3,
        strategies=[threshold_entry(NUMERIC_INPUTS["METADATA"], ThresholdOperation.BIGGER, 1)],
    )
    labels = np.array(["a"] * n, dtype=object)
    with pytest.raises(ConfigError, match="THRESHOLD needs a numeric input"):
        select(
            embeddings=embeddings(n),
            cfg=cfg,
            seed=0,
            resolve_input=lambda _: InputValues(
                kind=ValueKind.CATEGORICAL, values=labels, source="METADATA weather"
            ),
        )


def test_missing_resolver_and_misaligned_values() -> None:
    n = 10
    cfg = SelectionConfig(
        n_samples=3,
        strategies=[threshold_entry(NUMERIC_INPUTS["SCORES"], ThresholdOperation.BIGGER, 1)],
    )
    with pytest.raises(ConfigError, match="input SCORES needs an input resolver"):
        select(embeddings=embeddings(n), cfg=cfg, seed=0)
    with pytest.raises(ValueError, match="shape"):
        select(
            embeddings=embeddings(n),
            cfg=cfg,
            seed=0,
            resolve_input=lambda _: InputValues(kind=ValueKind.NUMERIC, values=np.ones(n - 1)),
        )
