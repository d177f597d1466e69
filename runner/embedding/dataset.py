"""The torch Dataset of the embedding pass: one sample in, one normalised tensor and key out."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

import torch
from PIL import Image
from torch.utils.data import Dataset

from runner.datasource.sample import Sample, SampleKind
from runner.decode.errors import DecodeError, describe_exception
from runner.decode.image import open_image
from runner.embedding.transforms import Preprocess


class EmbeddingItem(TypedDict):
    """One decoded sample. ``error`` is empty, or why the file could not be read."""

    image: torch.Tensor  # (3, S, S) float32, normalised
    key: str
    error: str


def read_sample(sample: Sample, *, draft_size: int) -> Image.Image:
    """Decode one sample to RGB pixels, letting JPEG draft mode shrink towards ``draft_size``.

    An object crop (``sample.box``) is cut from the full-resolution upright image; crops come
    sorted by key, so the crops of one image are neighbours and share one decode.

    Raises:
        DecodeError: The file cannot be read or decoded.
    """
    if sample.kind is not SampleKind.IMAGE:
        raise DecodeError(f"NotImplementedError: cannot embed {sample.kind.value} samples yet")
    if sample.box is not None:
        return _full_image(sample.path, sample.size, sample.mtime_ns).crop(sample.box)
    return open_image(sample.path, draft_size=draft_size)


@functools.lru_cache(maxsize=1)
def _full_image(path: Path, size: int, mtime_ns: int) -> Image.Image:
    """The last image decoded for crops in this process (size and mtime: its identity)."""
    return open_image(path)


class SampleDataset(Dataset[EmbeddingItem]):
    """Decodes and preprocesses samples inside DataLoader workers.

    A sample that fails to decode yields a zero image and its reason in ``error`` instead of
    raising, so the main process can report the key in one line (a worker's exception would
    reach it wrapped in a multi-line traceback).

    Args:
        samples: What to embed, in any order.
        preprocess: Resize and normalisation for the model.
    """

    def __init__(self, samples: Sequence[Sample], *, preprocess: Preprocess) -> None:
        self.samples = samples
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> EmbeddingItem:
        sample = self.samples[index]
        try:
            image = read_sample(sample, draft_size=self.preprocess.size)
        except DecodeError as exc:
            return {"image": self.preprocess.blank(), "key": sample.key, "error": exc.reason}
        except OSError as exc:  # e.g. the file vanished, if the reader let it through
            reason = describe_exception(exc)
            return {"image": self.preprocess.blank(), "key": sample.key, "error": reason}
        return {"image": self.preprocess(image), "key": sample.key, "error": ""}
