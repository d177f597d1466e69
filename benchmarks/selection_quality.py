"""Benchmark: does a selection preset beat random selection for a linear probe?

Builds labelled image folders from data bundled with scikit-learn and scikit-image (no
download): ``digits`` (1797 8x8 handwritten digits rendered as 64x64 PNGs, 10 classes, label
= folder) and ``faces`` (scikit-image's ``lfw_subset``: 100 faces and 100 non-faces, 25x25,
rendered as 64x64 PNGs). For every preset, budget and seed it runs the real CLI
(``lightly-run ... selection=<preset> selection.n_samples=K lightly.seed=S``, one Hydra
multirun per preset, so each folder is embedded once), trains a logistic-regression probe on the
selected samples' embeddings (from the run's ``embeddings.csv``) and scores it on all samples
that were not selected. Random selection runs through the CLI too, as Lightly's RANDOM input +
WEIGHTS. Results: mean ± std accuracy over the seeds, per budget, in the ``## Selection
quality`` section of ``docs/benchmarks.md``.

Usage: ``python benchmarks/selection_quality.py [--seeds 10] [--presets representative default]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Selection quality"
BUDGETS = {"digits": [10, 20, 50, 100, 200], "faces": [10, 20, 50, 100]}
RANDOM = "random"  # not a preset file: RANDOM + WEIGHTS given on the command line
RANDOM_STRATEGIES = "selection.strategies=[{input:{type:RANDOM},strategy:{type:WEIGHTS}}]"
SIZE = 64  # rendered image side, pixels


def _save(folder: Path, images: npt.NDArray[np.floating], labels: Sequence[str]) -> None:
    """Write grey images scaled to [0, 1] as RGB PNGs under ``folder/<label>/``."""
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        pixels = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
        rgb = Image.fromarray(pixels).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
        path = folder / label / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        rgb.save(path)


def build_digits(folder: Path) -> None:
    """sklearn's 1797 handwritten digits, one folder per digit."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    _save(folder, digits.images / 16.0, [str(t) for t in digits.target])


def build_faces(folder: Path) -> None:
    """scikit-image's lfw_subset: the first 100 are faces, the other 100 are not."""
    from skimage import data

    images = data.lfw_subset()
    _save(folder, images, ["face"] * 100 + ["nonface"] * 100)


BUILDERS = {"digits": build_digits, "faces": build_faces}
