"""RANDOM input: one uniform number in [0, 1) per sample, fixed by the seed and the sample key.

The number of a sample is derived from ``blake2b(f"{seed}:{key}")`` alone, so it does not
change when other samples are added or removed (an incremental run draws the same number for
a sample as the first run). With WEIGHTS this is a seeded random selection (Lightly's
``RANDOM`` + ``WEIGHTS``); with THRESHOLD a seeded random subsample.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from runner.inputs.values import InputValues, ValueKind

_SCALE = 2.0**-53  # 53 random bits → a float64 in [0, 1)


def uniform_for_key(seed: int, key: str) -> float:
    """The number of one sample.

    Args:
        seed: ``random_seed`` of the input (or the run's seed).
        key: The sample's key (its file name relative to the input datasource).

    Returns:
        A float in [0, 1).
    """
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "little") >> 11) * _SCALE


def random_values(keys: Sequence[str], seed: int) -> InputValues:
    """Resolve a RANDOM input for every sample.

    Args:
        keys: Sample keys, one per row.
        seed: ``random_seed`` of the input (or the run's seed).

    Returns:
        NUMERIC values in [0, 1), one per key.  # (N,) float64
    """
    values = np.fromiter(
        (uniform_for_key(seed, key) for key in keys), dtype=np.float64, count=len(keys)
    )
    return InputValues(kind=ValueKind.NUMERIC, values=values, source=f"RANDOM seed {seed}")
