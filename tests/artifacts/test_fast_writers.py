"""The run-file writers that a rerun pays for: the embedding map and ``embeddings.csv``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from runner.artifacts.projection import pca_2d
from runner.artifacts.write import write_embeddings_csv


def _spectrum_rows(n: int, d: int) -> np.ndarray:
    """Rows on a decaying spectrum, like embeddings (float16, as the cache stores them)."""
    scale = 1.0 / np.arange(1, d + 1) ** 0.8
    return (np.random.default_rng(0).standard_normal((n, d)) * scale).astype(np.float16)


def test_map_matches_the_exact_principal_components(tmp_path: Path) -> None:
    x = _spectrum_rows(600, 96)
    mapped = np.memmap(tmp_path / "x.f16", dtype=np.float16, mode="w+", shape=x.shape)
    mapped[:] = x
    xy = pca_2d(mapped, seed=3)
    data = x.astype(np.float64)
    centred = data - data.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    exact = centred @ vt[:2].T
    exact *= np.sign(vt[np.arange(2), np.abs(vt[:2]).argmax(axis=1)])  # the same sign rule
    assert xy.dtype == np.float32 and xy.shape == (600, 2)
    np.testing.assert_allclose(xy, exact, atol=1e-4 * np.abs(exact).max())
    assert np.array_equal(pca_2d(mapped, seed=3), xy)  # seeded: the same map every run


def test_map_of_tiny_and_flat_inputs() -> None:
    assert pca_2d(np.zeros((1, 5), dtype=np.float16), seed=0).tolist() == [[0.0, 0.0]]
    one_column = pca_2d(np.arange(3, dtype=np.float16)[:, None], seed=0)
    assert np.allclose(np.abs(one_column[:, 0]), [1, 0, 1]) and not one_column[:, 1].any()


def test_float16_csv_is_the_text_of_every_value_as_float64(tmp_path: Path) -> None:
    every = np.arange(2**16, dtype=np.uint16).view(np.float16).reshape(64, 1024)
    keys = [f"a,{i}.jpg" if i == 3 else f"{i}.jpg" for i in range(64)]
    write_embeddings_csv(tmp_path / "fast.csv", keys, every)
    with np.errstate(invalid="ignore"):
        write_embeddings_csv(tmp_path / "plain.csv", keys, every.astype(np.float32))
    text = (tmp_path / "fast.csv").read_text()
    assert text == (tmp_path / "plain.csv").read_text()
    rows = list(csv.reader(text.splitlines()))
    assert rows[4][0] == "a,3.jpg" and rows[1][-1] == "0" and len(rows[1]) == 1024 + 2
    assert rows[1][1:4] == ["0", "5.96046e-08", "1.19209e-07"]  # 0 and the two smallest
