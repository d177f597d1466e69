"""The torch Dataset of the embedding pass: one sample in, one normalised tensor and key out."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypedDict

import torch
from PIL import Image
from torch.utils.data import Dataset

from runner.datasource.sample import Sample, SampleKind
from runner.decode.errors import DecodeError, describe_exception
from runner.decode.image import open_image
from runner.decode.spool import SHARED_DRAFT, InputSpool
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

    A sample whose model input the inspection spooled is read from the spool instead of being
    decoded again. Other images are decoded with the same JPEG draft target as the inspection
    (:data:`runner.decode.spool.SHARED_DRAFT`, or ``S`` when larger), so both routes give the
    same pixels.

    A sample that fails to decode yields a zero image and its reason in ``error`` instead of
    raising, so the main process can report the key in one line (a worker's exception would
    reach it wrapped in a multi-line traceback).

    Args:
        samples: What to embed, in any order.
        preprocess: Resize and normalisation for the model.
        content_hashes: Content hash by key (to find a sample in ``spool``).
        spool: Model inputs the inspection decoded, or None.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        *,
        preprocess: Preprocess,
        content_hashes: Mapping[str, str] | None = None,
        spool: InputSpool | None = None,
    ) -> None:
        self.samples = samples
        self.preprocess = preprocess
        self.content_hashes = dict(content_hashes or {}) if spool is not None else {}
        self.spool = spool if spool is not None and spool.size == preprocess.size else None

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> EmbeddingItem:
        sample = self.samples[index]
        if self.spool is not None and sample.key in self.content_hashes:
            pixels = self.spool.read(self.content_hashes[sample.key])
            if pixels is not None:
                return {
                    "image": self.preprocess.from_pixels(pixels),
                    "key": sample.key,
                    "error": "",
                }
        draft = max(SHARED_DRAFT, self.preprocess.size)
        try:
            image = read_sample(sample, draft_size=draft)
        except DecodeError as exc:
            return {"image": self.preprocess.blank(), "key": sample.key, "error": exc.reason}
        except OSError as exc:  # e.g. the file vanished, if the reader let it through
            reason = describe_exception(exc)
            return {"image": self.preprocess.blank(), "key": sample.key, "error": reason}
        return {"image": self.preprocess(image), "key": sample.key, "error": ""}
