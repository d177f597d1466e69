"""Lightly's computed metadata (``lightly.<name>``, spec §3.3) for the selection.

The values come from the corruptness check (``FileInfo.metrics``, formulas in
:mod:`runner.decode.metrics` and ``docs/inputs.md``). When the check ran in header-only mode
(``worker.enable_corruptness_check: false``) the pixel metrics are missing; they are then
computed here from the image files, once per selection.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from runner.decode.errors import describe_exception
from runner.decode.inspect import FileInfo
from runner.decode.metrics import ALL_METRICS, header_metrics, pixel_metrics
from runner.errors import ConfigError, DataError

LIGHTLY_PREFIX = "lightly."
LIGHTLY_KEYS = tuple(LIGHTLY_PREFIX + name for name in ALL_METRICS)


@dataclass(frozen=True)
class LightlyValues:
    """One computed metric for every requested sample.

    Attributes:
        values: (N,) float64 in key order.
        computed_now: Samples whose metrics were not cached and were computed from the file.
    """

    values: npt.NDArray[np.float64]
    computed_now: int


def metric_name(key: str, *, custom_keys: Sequence[str] = ()) -> str:
    """The metric of a ``lightly.<name>`` selection key.

    Args:
        key: The METADATA input ``key``.
        custom_keys: The custom metadata paths, for the error message.

    Raises:
        ConfigError: An unknown ``lightly.*`` name, listing the known keys.
    """
    if key not in LIGHTLY_KEYS:
        raise unknown_key_error(key, custom_keys=custom_keys)
    return key.removeprefix(LIGHTLY_PREFIX)


def unknown_key_error(key: str, *, custom_keys: Sequence[str]) -> ConfigError:
    """The error for a METADATA key that is neither a custom path nor ``lightly.*``."""
    known = [*custom_keys, *LIGHTLY_KEYS]
    match = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean '{match[0]}'?" if match else ""
    return ConfigError(
        f"METADATA input: unknown key '{key}' (known keys: {', '.join(known)}){hint}"
    )


def lightly_values(
    name: str,
    *,
    keys: Sequence[str],
    infos: Mapping[str, FileInfo],
    paths: Mapping[str, Path],
    computed: dict[str, dict[str, float]],
) -> LightlyValues:
    """The values of one computed metric.

    Args:
        name: A name from ``ALL_METRICS`` (``sharpness``).
        keys: Sample keys, in the order wanted.
        infos: What the corruptness check found per key.
        paths: Image file per key, to compute metrics that were not cached.
        computed: Metrics computed here so far, by key; filled in (shared by all metrics).

    Returns:
        The values and how many samples had to be decoded now.

    Raises:
        DataError: A metric is unavailable (no cached value and no readable image file).
    """
    values = np.zeros(len(keys))
    computed_now = 0
    for row, key in enumerate(keys):
        info = infos.get(key)
        metrics = info.metrics if info is not None else {}
        if name not in metrics:
            if key not in computed:
                computed[key] = _compute(key, paths)
                computed_now += 1
            metrics = computed[key]
        values[row] = metrics[name]
    return LightlyValues(values=values, computed_now=computed_now)


def _compute(key: str, paths: Mapping[str, Path]) -> dict[str, float]:
    """Decode one image file and measure it."""
    path = paths.get(key)
    if path is None:
        raise DataError(
            f"lightly.* metadata of '{key}' is unknown: it was not measured by the "
            "corruptness check and its image file is not known"
        )
    try:
        with Image.open(path) as image:
            image.load()
            return header_metrics(image, size_in_bytes=path.stat().st_size) | pixel_metrics(image)
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, ...
        reason = describe_exception(exc)
        raise DataError(f"cannot compute lightly.* metadata of '{key}': {reason}") from exc
