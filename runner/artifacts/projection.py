"""A 2-D map of the embeddings (PCA) for the report and the viewer: ``projection.npz``.

PCA is fitted on at most ``max_fit`` rows (a seeded subsample) and applied to all rows, so
the cost stays O(N·D) for large runs. Signs are fixed (largest loading positive) so the map
is the same run to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from runner.atomic import atomic_path
from runner.write_paths import contained

PROJECTION_FILE = "projection.npz"


def pca_2d(embeddings: np.ndarray, *, seed: int, max_fit: int = 20_000) -> np.ndarray:
    """Project (N, D) embeddings to (N, 2) float32 with PCA; fewer than 2 rows give zeros."""
    n = embeddings.shape[0]
    if n < 2:
        return np.zeros((n, 2), dtype=np.float32)
    data = embeddings.astype(np.float64)
    fit = data
    if n > max_fit:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=max_fit, replace=False))
        fit = data[rows]
    mean = fit.mean(axis=0)
    _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)  # vt: (min(n, D), D)
    components = vt[:2]
    if components.shape[0] < 2:
        components = np.vstack([components, np.zeros_like(components)])
    signs = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    projected: np.ndarray = ((data - mean) @ components.T).astype(np.float32)  # (N, 2)
    return projected


def write_projection(
    run_dir: Path, *, keys: Sequence[str], embeddings: np.ndarray, seed: int
) -> Path:
    """Write ``projection.npz`` with ``keys`` (N,) and ``xy`` (N, 2) float32."""
    path = contained(run_dir, PROJECTION_FILE)
    xy = pca_2d(embeddings, seed=seed)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, keys=np.asarray(list(keys), dtype=str), xy=xy)
    return path
