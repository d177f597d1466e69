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


_POWER_STEPS = 8  # subspace iterations: the top-2 directions to ~1e-6 on embedding spectra
_OVERSAMPLE = 8  # extra directions carried through the iterations
_BLOCK = 65_536  # rows projected at a time


def top_directions(centred: np.ndarray, k: int, *, seed: int) -> np.ndarray:
    """The top ``k`` right singular vectors of ``centred`` by randomized subspace iteration.

    Halko, Martinsson and Tropp (SIAM Review 2011), algorithm 4.4: a few products with a thin
    ``D x (k + 8)`` block instead of a full SVD, whose O(N·D²) cost (seconds for 2,000 x 1,280)
    is wasted on a 2-D map. Seeded, so the same rows give the same directions.

    Args:
        centred: Rows minus their mean, float64.  # (N, D)
        k: Directions wanted.
        seed: Seeds the random start block.

    Returns:
        Orthonormal directions, strongest first.  # (min(k, N, D), D)
    """
    n, d = centred.shape
    width = min(k + _OVERSAMPLE, n, d)
    start = np.random.default_rng(seed).standard_normal((d, width))  # (D, W)
    basis, _ = np.linalg.qr(centred @ start)  # (N, W)
    for _ in range(_POWER_STEPS):
        back, _ = np.linalg.qr(centred.T @ basis)  # (D, W)
        basis, _ = np.linalg.qr(centred @ back)  # (N, W)
    _, _, vt = np.linalg.svd(basis.T @ centred, full_matrices=False)  # (W, D)
    directions: np.ndarray = vt[: min(k, width)]
    return directions


def pca_2d(embeddings: np.ndarray, *, seed: int, max_fit: int = 20_000) -> np.ndarray:
    """Project (N, D) embeddings to (N, 2) float32 with PCA; fewer than 2 rows give zeros.

    Fitted in float64 on at most ``max_fit`` seeded rows; the input (a float16 memory map of
    the cache, say) is projected block by block, never copied whole.
    """
    n = embeddings.shape[0]
    if n < 2:
        return np.zeros((n, 2), dtype=np.float32)
    rows = np.arange(n)
    if n > max_fit:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=max_fit, replace=False))
    fit = np.asarray(embeddings[rows], dtype=np.float64)  # (<=max_fit, D)
    mean = fit.mean(axis=0)  # (D,)
    components = top_directions(fit - mean, 2, seed=seed)  # (<=2, D)
    if components.shape[0] < 2:
        components = np.vstack([components, np.zeros((2 - components.shape[0], fit.shape[1]))])
    signs = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    projected = np.empty((n, 2), dtype=np.float32)
    for start in range(0, n, _BLOCK):
        block = np.asarray(embeddings[start : start + _BLOCK], dtype=np.float64) - mean
        projected[start : start + _BLOCK] = block @ components.T
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
