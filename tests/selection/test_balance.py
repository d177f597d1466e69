"""BALANCE: the selected class distribution approaches the target; every distribution mode."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from runner.config import (
    BalanceDistribution,
    InputType,
    SelectionConfig,
    SelectionInput,
    SelectionStrategy,
    StrategyEntry,
    StrategyType,
)
from runner.errors import ConfigError
from runner.inputs.values import InputResolver, InputValues, ValueKind
from runner.selection.balance import OTHER
from runner.selection.select import select

METADATA = SelectionInput(type=InputType.METADATA, key="weather.description")
PREDICTIONS = SelectionInput(type=InputType.PREDICTIONS, task="cls", name="CLASS_DISTRIBUTION")


def balance(
    selection_input: SelectionInput = METADATA,
    target: dict[str, float] | None = None,
    distribution: BalanceDistribution | None = None,
    strength: float = 1.0,
) -> StrategyEntry:
    strategy = SelectionStrategy(
        type=StrategyType.BALANCE, target=target, distribution=distribution, strength=strength
    )
    return StrategyEntry(input=selection_input, strategy=strategy)


def diversity() -> StrategyEntry:
    return StrategyEntry(
        input=SelectionInput(type=InputType.EMBEDDINGS),
        strategy=SelectionStrategy(type=StrategyType.DIVERSITY),
    )


def labels(counts: dict[str, int], seed: int = 0) -> npt.NDArray[np.object_]:
    out = np.array([c for c, k in counts.items() for _ in range(k)], dtype=object)
    return np.random.default_rng(seed).permutation(out)


def categorical(values: npt.NDArray[np.object_]) -> InputResolver:
    return lambda _: InputValues(kind=ValueKind.CATEGORICAL, values=values, source="weather")


def points(n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    return np.random.default_rng(seed).standard_normal((n, 8)).astype(np.float32)


def shares(picked: npt.NDArray[np.object_], classes: list[str]) -> npt.NDArray[np.float64]:
    return np.array([np.mean(picked == c) for c in classes])


def run(
    values: npt.NDArray[np.object_], n: int, *strategies: StrategyEntry, seed: int = 0
) -> npt.NDArray[np.object_]:
    cfg = SelectionConfig(n_samples=n, strategies=list(strategies))
    result = select(
        embeddings=points(values.size), cfg=cfg, seed=seed, resolve_input=categorical(values)
    )
    assert len(result.indices) == n
    return values[result.indices]


def test_categorical_proportions_approach_the_target() -> None:
    values = labels({"sunny": 1800, "cloudy": 900, "rainy": 300})
    target = {"sunny": 0.2, "cloudy": 0.3, "rainy": 0.5}
    errors = []
    for n in (10, 40, 160, 480):
        got = shares(run(values, n, balance(target=target)), list(target))
        errors.append(float(np.abs(got - list(target.values())).max()))
        assert errors[-1] <= 1.0 / n + 1e-9  # within one sample of the target
    assert errors[-1] <= errors[0]


def test_class_distribution_mass_approaches_the_target() -> None:
    n_rows, classes = 4000, ["car", "bike", "bus", "truck"]
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([3.0, 1.0, 0.7, 0.5], size=n_rows)  # (N, 4) mostly cars
    target = {"car": 0.25, "bike": 0.25, "bus": 0.25, "truck": 0.25}
    cfg_errors = []
    for n in (20, 60, 200):
        cfg = SelectionConfig(n_samples=n, strategies=[balance(PREDICTIONS, target=target)])
        result = select(
            embeddings=points(n_rows),
            cfg=cfg,
            seed=0,
            resolve_input=lambda _: InputValues(
                kind=ValueKind.DISTRIBUTION, values=probs, categories=tuple(classes)
            ),
        )
        mass = probs[result.indices].sum(axis=0)
        cfg_errors.append(float(np.abs(mass / mass.sum() - 0.25).max()))
        reached = result.per_strategy[0]["reached"]
        assert isinstance(reached, list)
        np.testing.assert_allclose(reached, mass / mass.sum())
    input_error = float(np.abs(probs.mean(axis=0) - 0.25).max())  # ~0.3: random keeps it
    assert cfg_errors[0] < input_error / 4
    assert cfg_errors[-1] < 0.02
    assert cfg_errors == sorted(cfg_errors, reverse=True)


def test_remainder_goes_to_all_other_classes_together() -> None:
    values = labels({"a": 500, "b": 500, "c": 100, "d": 100})
    picked = run(values, 200, balance(target={"a": 0.5}))
    assert np.mean(picked == "a") == pytest.approx(0.5, abs=0.01)
    cfg = SelectionConfig(n_samples=10, strategies=[balance(target={"a": 0.5})])
    result = select(embeddings=points(1200), cfg=cfg, seed=0, resolve_input=categorical(values))
    assert result.per_strategy[0]["groups"] == ["a", OTHER]


def test_classes_not_named_do_not_influence_when_the_target_sums_to_one() -> None:
    values = labels({"a": 300, "b": 300, "c": 3000})
    picked = run(values, 100, balance(target={"a": 0.5, "b": 0.5}))
    named = picked[picked != "c"]
    assert abs(np.mean(named == "a") - 0.5) <= 0.02


def test_uniform_and_input_distributions() -> None:
    values = labels({"x": 600, "y": 300, "z": 100})
    uniform = shares(
        run(values, 150, balance(distribution=BalanceDistribution.UNIFORM)), ["x", "y", "z"]
    )
    np.testing.assert_allclose(uniform, 1 / 3, atol=0.01)
    kept = shares(
        run(values, 100, diversity(), balance(distribution=BalanceDistribution.INPUT)),
        ["x", "y", "z"],
    )
    np.testing.assert_allclose(kept, [0.6, 0.3, 0.1], atol=0.05)


def test_diversity_times_balance_is_closer_to_the_target_than_diversity() -> None:
    # Class "a" is spread out, "b" is one tight blob: diversity alone picks mostly "a".
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [rng.standard_normal((500, 8)), 0.05 * rng.standard_normal((500, 8)) + 3.0]
    ).astype(np.float32)
    values = np.array(["a"] * 500 + ["b"] * 500, dtype=object)

    def share_b(*strategies: StrategyEntry) -> float:
        cfg = SelectionConfig(n_samples=60, strategies=list(strategies))
        result = select(embeddings=x, cfg=cfg, seed=0, resolve_input=categorical(values))
        return float(np.mean(values[result.indices] == "b"))

    alone = share_b(diversity())
    balanced = share_b(diversity(), balance(target={"a": 0.5, "b": 0.5}))
    assert alone < 0.2
    assert abs(balanced - 0.5) < abs(alone - 0.5)
    assert balanced > 0.3


def test_strength_zero_is_irrelevant_and_negative_inverts() -> None:
    values = labels({"a": 200, "b": 200})
    x = points(400)
    alone = select(
        embeddings=x, cfg=SelectionConfig(n_samples=30, strategies=[diversity()]), seed=2
    )
    zero = select(
        embeddings=x,
        cfg=SelectionConfig(
            n_samples=30, strategies=[diversity(), balance(target={"a": 0.9}, strength=0.0)]
        ),
        seed=2,
        resolve_input=categorical(values),
    )
    assert zero.indices == alone.indices
    towards = shares(run(values, 40, balance(target={"a": 0.5, "b": 0.5})), ["a"])[0]
    away = shares(run(values, 40, balance(target={"a": 0.5, "b": 0.5}, strength=-1.0)), ["a"])[0]
    assert towards == pytest.approx(0.5)
    assert abs(away - 0.5) > 0.3  # inverted: it runs away from the even split


def test_preselected_rows_count_toward_the_distribution() -> None:
    values = np.array(["a"] * 50 + ["b"] * 50, dtype=object)
    cfg = SelectionConfig(n_samples=10, strategies=[balance(target={"a": 0.5, "b": 0.5})])
    result = select(
        embeddings=points(100),
        cfg=cfg,
        seed=0,
        preselected=list(range(10)),  # 10 x "a" in the datapool
        resolve_input=categorical(values),
    )
    assert list(values[result.indices]) == ["b"] * 10


def test_missing_target_class_is_noted_and_numeric_input_refused() -> None:
    values = labels({"a": 10, "b": 10})
    cfg = SelectionConfig(n_samples=5, strategies=[balance(target={"a": 0.5, "snow": 0.5})])
    result = select(embeddings=points(20), cfg=cfg, seed=0, resolve_input=categorical(values))
    assert "BALANCE target class 'snow' is not in the input" in result.notes
    with pytest.raises(ConfigError, match="BALANCE needs a categorical or distribution input"):
        select(
            embeddings=points(20),
            cfg=cfg,
            seed=0,
            resolve_input=lambda _: InputValues(kind=ValueKind.NUMERIC, values=np.ones(20)),
        )


def test_uniform_over_classifier_predictions_is_not_captured_by_unsure_samples() -> None:
    # Ten classes of 120 down to 5 samples; 12 % of them (mostly of the largest class) come
    # from an unsure classifier with a flat probability vector. UNIFORM over 30 picks must not
    # fill up with those: every class has >= 3 samples predicted as it, so <= 6 per class.
    from runner.inputs.class_vectors import class_distribution
    from runner.inputs.prediction_schema import TaskSchema, TaskType
    from runner.inputs.predictions import TaskPredictions, parse_file

    names = tuple(f"c{j}" for j in range(10))
    sizes = [120, 80, 50, 35, 25, 18, 12, 9, 7, 5]
    schema = TaskSchema(
        name="cls",
        task_type=TaskType.CLASSIFICATION,
        category_ids=tuple(range(10)),
        category_names=names,
    )
    rng = np.random.default_rng(3)
    truth = np.repeat(np.arange(10), sizes)
    unsure = rng.random(truth.size) < 0.12
    files = {}
    for i, (label, flat) in enumerate(zip(truth.tolist(), unsure.tolist(), strict=True)):
        probabilities = np.full(10, 0.02)
        probabilities[label] = 0.82
        if flat:
            probabilities = np.full(10, 0.1) + rng.uniform(0, 0.001, 10)
            probabilities /= probabilities.sum()
        column = int(np.argmax(probabilities))
        prediction = {"category_id": column, "probabilities": probabilities.tolist()}
        files[f"{i:04d}.png"] = parse_file(
            {"predictions": [prediction]}, key=f"{i:04d}.png", schema=schema, image_size=None
        )
    task = TaskPredictions(
        schema=schema,
        keys=tuple(files),
        by_key=files,
        missing=(),
        skipped=(),
        warnings=(),
        files_read=len(files),
    )
    values = InputValues(
        kind=ValueKind.DISTRIBUTION, values=class_distribution(task), categories=names
    )
    predicted = values.values.argmax(axis=1)
    assert np.bincount(predicted, minlength=10).min() >= 3
    cfg = SelectionConfig(
        n_samples=30, strategies=[balance(PREDICTIONS, distribution=BalanceDistribution.UNIFORM)]
    )
    result = select(embeddings=points(truth.size), cfg=cfg, seed=0, resolve_input=lambda _: values)
    per_class = np.bincount(predicted[result.indices], minlength=10)
    assert per_class.max() <= 6 and per_class.min() >= 1, per_class
