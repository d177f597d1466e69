"""The lazy, blocked k-center engine returns exactly the textbook greedy picks."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from runner.selection.kcenter import LazyKCenter
from runner.selection.pruning import BoundCache, build_partition
from runner.selection.torch_kcenter import TorchKCenter

Engine = LazyKCenter | TorchKCenter


def unit(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def random_rows(n: int, d: int, seed: int) -> npt.NDArray[np.float32]:
    return unit(np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32))


def clustered_rows(n: int, d: int, seed: int) -> npt.NDArray[np.float32]:
    """A mixture of tight and loose clusters with a decaying spectrum, like real embeddings."""
    rng = np.random.default_rng(seed)
    spectrum = (1.0 / np.arange(1, d + 1) ** 0.8).astype(np.float32)  # (d,)
    centres = 3 * rng.standard_normal((20, d)).astype(np.float32) * spectrum
    labels = rng.integers(0, 20, n)
    spread = rng.uniform(0.2, 1.0, 20).astype(np.float32)[labels, None]
    noise = rng.standard_normal((n, d)).astype(np.float32) * spectrum * spread
    return unit(centres[labels] + noise)


def oracle(
    x: npt.NDArray[np.float32],
    start: list[int],
    k: int,
    factor: npt.NDArray[np.float64] | None = None,
    power: float = 1.0,
) -> list[int]:
    """Greedy argmax of ``factor · d^power`` with every distance recomputed in float64."""
    x64 = x.astype(np.float64)
    picks = list(start)
    nearest = np.full(x.shape[0], np.inf)
    for c in picks:
        nearest = np.minimum(nearest, np.linalg.norm(x64 - x64[c], axis=1))
    out: list[int] = []
    while len(out) < k:
        keys = nearest**power * (1.0 if factor is None else factor)
        keys[picks] = -np.inf
        best = int(np.argmax(keys))
        picks.append(best)
        out.append(best)
        nearest = np.minimum(nearest, np.linalg.norm(x64 - x64[best], axis=1))
    return out


def run_engine(
    engine: Engine,
    k: int,
    factor: npt.NDArray[np.float64] | None = None,
    power: float = 1.0,
) -> list[int]:
    picks = []
    for _ in range(k):
        best, _ = engine.argmax(factor=factor, power=power)
        engine.add_row(best)
        picks.append(best)
    return picks


@pytest.mark.parametrize("make", [random_rows, clustered_rows])
@pytest.mark.parametrize(("tier", "block"), [(None, 256), (300, 16), (50, 4)])
@pytest.mark.parametrize("groups", [None, 16])  # default: no pruning at this size
def test_lazy_picks_equal_the_exact_greedy(
    make: object, tier: int | None, block: int, groups: int | None
) -> None:
    x = make(2000, 24, 3)  # type: ignore[operator]
    engine = LazyKCenter(x, tier=tier, block=block, groups=groups)
    engine.add_row(0)
    assert run_engine(engine, 300) == oracle(x, [0], 300)
    if tier is not None:
        assert engine.stats["retiers"] > 1  # the dormant rows were woken up on the way


def test_lazy_engine_skips_work_on_clustered_data() -> None:
    x = clustered_rows(4000, 16, 0)
    engine = LazyKCenter(x, tier=500, block=32)
    engine.add_row(0)
    run_engine(engine, 400)
    assert engine.stats["distances"] < 0.7 * 4000 * 400  # full updates would do 4000 x 400


def test_factor_and_power_are_part_of_the_key() -> None:
    x = clustered_rows(1500, 12, 1)
    factor = np.random.default_rng(0).uniform(0.1, 1.0, 1500)
    for power in (1.0, 0.5, 3.0):
        engine = LazyKCenter(x, tier=200, block=8)
        engine.add_row(7)
        assert run_engine(engine, 150, factor, power) == oracle(x, [7], 150, factor, power)


def test_preselected_rows_and_exact_distances() -> None:
    x = random_rows(800, 8, 2)
    pre = np.array([3, 50, 400], dtype=np.int64)
    engine = LazyKCenter(x, tier=100, block=8)
    engine.add_rows(pre)
    picks = run_engine(engine, 60)
    assert picks == oracle(x, [3, 50, 400], 60)
    full = engine.min_d2()
    x64 = x.astype(np.float64)
    expected = np.min(
        [np.sum((x64 - x64[c]) ** 2, axis=1) for c in [*pre.tolist(), *picks]], axis=0
    )
    np.testing.assert_allclose(full, expected, atol=1e-5)
    assert engine.at(5) == pytest.approx(expected[5], abs=1e-5)
    # After min_d2 the tiers start over and still give the exact greedy
    assert run_engine(engine, 20) == oracle(x, [3, 50, 400, *picks], 20)


@pytest.mark.parametrize("groups", [None, 4])
def test_duplicates_and_zero_keys_resolve_to_the_lowest_row(groups: int | None) -> None:
    base = random_rows(5, 4, 0)
    x = np.repeat(base, 4, axis=0)  # rows 4i..4i+3 are equal
    engine = LazyKCenter(x, tier=4, block=2, groups=groups)
    engine.add_row(0)
    picks = run_engine(engine, 19)
    assert picks[:4] == oracle(x, [0], 4)
    assert sorted(picks) == list(range(1, 20))
    # once every distinct point is a center all keys are 0: rows in order
    zero_keys = [p for p in picks[4:]]
    assert zero_keys == sorted(zero_keys)


def test_argmax_needs_a_center() -> None:
    engine = LazyKCenter(random_rows(10, 4, 0))
    with pytest.raises(ValueError, match="at least one center"):
        engine.argmax(factor=None, power=1.0)


def test_same_data_same_picks_byte_for_byte() -> None:
    x = clustered_rows(3000, 32, 5)
    runs = []
    for _ in range(2):
        engine = LazyKCenter(x, tier=400, block=16)
        engine.add_row(11)
        picks = run_engine(engine, 200)
        runs.append((picks, engine.min_d2().tobytes()))
    assert runs[0] == runs[1]


# --- triangle-inequality pruning over the anchor partition ----------------------------------


@pytest.mark.parametrize("make", [random_rows, clustered_rows])
def test_pruned_engine_equals_the_greedy_and_the_unpruned_engine(make: object) -> None:
    x = make(3000, 16, 4)  # type: ignore[operator]
    factor = np.random.default_rng(1).uniform(0.2, 1.0, 3000)
    pre = np.array([9, 700], dtype=np.int64)
    runs = {}
    for groups in (1, 40):
        engine = LazyKCenter(x, tier=600, block=32, groups=groups)
        engine.add_rows(pre)  # the datapool path folds with pruning too
        runs[groups] = (run_engine(engine, 250, factor, 2.0), engine.stats)
    assert runs[40][0] == runs[1][0] == oracle(x, [9, 700], 250, factor, 2.0)
    folded = {g: stats["distances"] - stats["scan_distances"] for g, (_, stats) in runs.items()}
    assert folded[1] == runs[1][1]["dense_distances"]  # groups=1: no pruning
    # noise in 16-d leaves nothing to prune: the engine notices and stops trying
    assert runs[40][1]["pruning_dropped"] == (make is random_rows)
    if make is clustered_rows:
        assert folded[40] < runs[40][1]["dense_distances"]  # some products were skipped


def test_pruning_skips_most_products_on_clustered_data() -> None:
    x = clustered_rows(6000, 16, 2)
    engine = LazyKCenter(x, tier=1500, block=64, groups=64)
    engine.add_row(0)
    assert run_engine(engine, 600) == oracle(x, [0], 600)
    folded = engine.stats["distances"] - engine.stats["scan_distances"]
    assert folded < 0.5 * engine.stats["dense_distances"]


def test_center_bounds_are_lower_bounds_of_the_distance_to_each_anchor() -> None:
    x = clustered_rows(2000, 40, 6)
    sq = np.einsum("nd,nd->n", x, x)
    part = build_partition(x, sq, 25)
    c = x[:50]
    bounds = part.center_bounds(c)  # (50, G)
    # |c - x| >= |c - anchor| - |x - anchor| >= bound - radius, for every row of each group
    d = np.linalg.norm(c[:, None, :].astype(np.float64) - x[None, :, :], axis=2)  # (50, N)
    assert np.all(d >= bounds[:, part.group] - part.radius[None, :] - 1e-5)
    assert np.all(part.radius >= 0) and set(np.unique(part.group)) <= set(range(25))
    cache = BoundCache(part)
    cached = cache.get(x, list(range(50)), 10, 50)  # float16, rounded down
    assert np.all(cached <= bounds[10:50]) and np.allclose(cached, bounds[10:50], atol=2e-3)
    again = build_partition(x, sq, 25)
    assert np.array_equal(again.group, part.group)  # deterministic


@pytest.mark.parametrize("groups", [None, 3])
def test_zero_rows_and_tiny_inputs(groups: int | None) -> None:
    x = np.zeros((6, 3), dtype=np.float32)
    x[3] = [1.0, 0.0, 0.0]
    engine = LazyKCenter(x, groups=groups)
    engine.add_row(0)
    assert run_engine(engine, 5) == [3, 1, 2, 4, 5]  # then all keys 0: the lowest row
    one = LazyKCenter(np.ones((2, 2), dtype=np.float32) / np.sqrt(2), groups=groups)
    one.add_row(1)
    assert run_engine(one, 1) == [0]


# --- the torch port (CUDA on a GPU machine; the same code on the CPU here) ------------------


@pytest.mark.parametrize("make", [random_rows, clustered_rows])
@pytest.mark.parametrize("block", [256, 16, 3])
def test_torch_engine_picks_equal_the_exact_greedy_and_numpy(make: object, block: int) -> None:
    x = make(2000, 24, 3)  # type: ignore[operator]
    engine = TorchKCenter(x, block=block, device="cpu")
    engine.add_row(0)
    picks = run_engine(engine, 300)
    assert picks == oracle(x, [0], 300)
    numpy_engine = LazyKCenter(x, block=block)
    numpy_engine.add_row(0)
    assert picks == run_engine(numpy_engine, 300)
    assert engine.stats["updates"] >= 300 // block - 1  # centers were folded in blocks
    assert engine.stats["scanned"] < 2000 * 300  # and most rows were never made exact


def test_torch_engine_factor_power_preselected_and_distances() -> None:
    x = clustered_rows(1500, 12, 1)
    factor = np.random.default_rng(0).uniform(0.1, 1.0, 1500)
    pre = np.array([3, 50, 400], dtype=np.int64)
    for power in (1.0, 0.5, 3.0):
        engine = TorchKCenter(x, block=8, device="cpu")
        engine.add_rows(pre)
        picks = run_engine(engine, 120, factor, power)
        assert picks == oracle(x, [3, 50, 400], 120, factor, power)
    x64 = x.astype(np.float64)
    expected = np.min(
        [np.sum((x64 - x64[c]) ** 2, axis=1) for c in [*pre.tolist(), *picks]], axis=0
    )
    assert engine.at(5) == pytest.approx(expected[5], abs=1e-5)
    assert engine.at(picks[-1]) == 0.0
    np.testing.assert_allclose(engine.min_d2(), expected, atol=1e-5)
    assert run_engine(engine, 20) == oracle(x, [3, 50, 400, *picks], 20)


def test_torch_engine_resolves_duplicates_to_the_lowest_row() -> None:
    x = np.repeat(random_rows(5, 4, 0), 4, axis=0)  # rows 4i..4i+3 are equal
    engine = TorchKCenter(x, block=2, device="cpu")
    engine.add_row(0)
    picks = run_engine(engine, 19)
    assert picks[:4] == oracle(x, [0], 4)
    assert picks[4:] == sorted(picks[4:]) and sorted(picks) == list(range(1, 20))
    with pytest.raises(ValueError, match="at least one center"):
        TorchKCenter(x, device="cpu").argmax(factor=None, power=1.0)
