"""Corruptness check and content hashes: every new image is read and decoded once.

The same decode gives Lightly's computed metadata (``lightly.sharpness`` and friends, see
:mod:`runner.decode.metrics`), so selecting on them costs no second decode, and feeds the
Lightly thumbnail and the model input (:mod:`runner.decode.uses`). JPEGs are decoded in draft
mode down to :data:`runner.decode.spool.SHARED_DRAFT` pixels a side (the DCT scales by a power of
two while it decodes; every coefficient is still read, so a truncated file still fails).

Results are cached in a JSON file keyed by sample key and validated by file size and mtime,
so a rerun over an unchanged input directory decodes nothing. The cache mirrors the last scan:
it is rewritten with exactly the current samples, atomically, and only when it changed. The
file is ``{"format": CACHE_FORMAT, "entries": {key: entry}}``; a cache of another format
(older versions wrote a bare ``{key: entry}`` object) is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from runner.atomic import atomic_write_text
from runner.datasource.sample import Sample
from runner.decode.errors import describe_exception
from runner.decode.image import to_rgb
from runner.decode.metrics import header_metrics, pixel_metrics
from runner.decode.spool import SHARED_DRAFT
from runner.decode.uses import DecodeUses
from runner.progress import NO_PROGRESS, StageProgress

logger = logging.getLogger(__name__)

CACHE_FORMAT = 3
"""Version of the cache file layout; bump it when an entry changes shape or meaning."""

# One cache entry: [size, mtime_ns, sha256, width, height, error, checked, metrics].
_CacheEntry = list[Any]


@dataclass(frozen=True)
class FileInfo:
    """What one read (and decode) of a file established.

    Attributes:
        sha256: Hex SHA-256 of the file bytes; empty only when the file could not be read.
        width: Width in pixels as stored in the file (before EXIF orientation); 0 if corrupt.
        height: Height in pixels as stored in the file (before EXIF orientation); 0 if corrupt.
        error: Lightly-style reason (``"OSError: image file is truncated"``) when the file is
            unreadable or corrupt, else None.
        metrics: Lightly's computed metadata by name (``runner.decode.metrics``): ``width``,
            ``height`` (upright) and ``sizeInBytes`` for every readable image, plus the pixel
            metrics (``sharpness``, ...) when the pixels were decoded; empty if corrupt.
    """

    sha256: str
    width: int
    height: int
    error: str | None
    metrics: dict[str, float] = field(default_factory=dict, hash=False)

    @property
    def is_corrupt(self) -> bool:
        """Whether the file failed to read or decode."""
        return self.error is not None


@dataclass(frozen=True)
class Inspection:
    """Result of ``inspect_files``.

    Attributes:
        infos: Sample key -> what was found, in the order of the samples given.
        cache_hits: How many samples were answered from the cache without reading the file.
    """

    infos: dict[str, FileInfo]
    cache_hits: int


def inspect_files(
    samples: Sequence[Sample],
    *,
    cache_file: Path | None,
    num_threads: int,
    check_corruptness: bool = True,
    uses: DecodeUses | None = None,
    progress: StageProgress = NO_PROGRESS,
) -> Inspection:
    """Hash every sample's file and check that its pixels decode.

    Args:
        samples: Samples to inspect (unique keys).
        cache_file: JSON cache of earlier results, or None for no cache. Its parent
            directories are created; it must not lie inside the input directory.
        num_threads: Reader threads (Pillow releases the GIL while decoding); ``<= 0`` means
            one per CPU.
        check_corruptness: Fully decode each image (Lightly's corruptness check). When False,
            only the header is parsed for the size; an unreadable header is still an error.
        uses: What else each decoded image feeds (thumbnail, model input); only images decoded
            here (not cache hits) reach it.
        progress: Told of every file to read (cache hits are not counted) as it is done.

    Returns:
        Per-key file information (independent of thread scheduling) and the cache hit count.
    """
    cached = _load_cache(cache_file) if cache_file is not None else {}
    infos: dict[str, FileInfo] = {}
    entries: dict[str, _CacheEntry] = {}
    todo: list[Sample] = []
    for sample in samples:
        entry = cached.get(sample.key)
        if entry is not None and _reusable(entry, sample, check_corruptness=check_corruptness):
            infos[sample.key] = _info_from_entry(entry)
            entries[sample.key] = entry
        else:
            todo.append(sample)
    cache_hits = len(infos)
    workers = num_threads if num_threads > 0 else (os.cpu_count() or 1)
    progress.expect(len(todo))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        fresh = pool.map(
            partial(inspect_file, check_corruptness=check_corruptness, uses=uses), todo
        )
        for sample, info in zip(todo, fresh, strict=True):
            progress.advance()
            infos[sample.key] = info
            if info.sha256:  # read failures (e.g. permissions) may heal without an mtime change
                entries[sample.key] = _entry(sample, info, checked=check_corruptness)
    ordered = {sample.key: infos[sample.key] for sample in samples}
    if cache_file is not None and entries != cached:
        _write_cache(cache_file, entries)
    return Inspection(infos=ordered, cache_hits=cache_hits)


def inspect_file(
    sample: Sample, *, check_corruptness: bool, uses: DecodeUses | None = None
) -> FileInfo:
    """Read one file, hash it and decode it (or only its header), and measure it.

    Args:
        sample: The sample whose ``path`` is read.
        check_corruptness: Decode all pixels rather than the header only; only then are the
            pixel metrics computed and ``uses`` fed.
        uses: What else the decoded image feeds.

    Returns:
        The file's information; failures are recorded in ``error``, never raised.
    """
    try:
        data = sample.path.read_bytes()
    except OSError as exc:
        return FileInfo(sha256="", width=0, height=0, error=describe_exception(exc))
    digest = hashlib.sha256(data).hexdigest()
    upright = None
    try:
        # LOAD_TRUNCATED_IMAGES stays False: a truncated file must fail here.
        with Image.open(BytesIO(data)) as image:
            width, height = image.size
            metrics = header_metrics(image, size_in_bytes=len(data))
            if check_corruptness:
                image.draft("RGB", (SHARED_DRAFT, SHARED_DRAFT))
                image.load()
                metrics |= pixel_metrics(image)
                if uses is not None:
                    upright = to_rgb(ImageOps.exif_transpose(image))
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, ...
        return FileInfo(sha256=digest, width=0, height=0, error=_decode_reason(exc))
    if upright is not None and uses is not None:
        uses(sample, digest, upright)
    return FileInfo(sha256=digest, width=width, height=height, error=None, metrics=metrics)


def _decode_reason(exc: Exception) -> str:
    """Reason for a decode failure that is the same on every run.

    Pillow names the in-memory buffer (with its address) when it cannot identify the format;
    that message would change the reason, and the cache file, on every run.
    """
    if isinstance(exc, UnidentifiedImageError):
        return f"{type(exc).__name__}: cannot identify image file"
    return describe_exception(exc)


def _reusable(entry: _CacheEntry, sample: Sample, *, check_corruptness: bool) -> bool:
    """Whether a cache entry still describes the file and answers the question asked."""
    size, mtime_ns, checked = entry[0], entry[1], entry[6]
    same_file = size == sample.size and mtime_ns == sample.mtime_ns
    return same_file and (checked or not check_corruptness)


def _entry(sample: Sample, info: FileInfo, *, checked: bool) -> _CacheEntry:
    """The cache entry recording one inspected file."""
    return [
        sample.size,
        sample.mtime_ns,
        info.sha256,
        info.width,
        info.height,
        info.error,
        checked,
        info.metrics,
    ]


def _info_from_entry(entry: _CacheEntry) -> FileInfo:
    """The file information stored in a (validated) cache entry."""
    return FileInfo(
        sha256=entry[2], width=entry[3], height=entry[4], error=entry[5], metrics=dict(entry[7])
    )


def _valid_entry(entry: object) -> bool:
    """Whether a decoded JSON value has the shape of a cache entry."""
    if not isinstance(entry, list) or len(entry) != 8:
        return False
    size, mtime_ns, sha256, width, height, error, checked, metrics = entry
    ints_ok = all(type(value) is int for value in (size, mtime_ns, width, height))
    return (
        ints_ok
        and isinstance(sha256, str)
        and (error is None or isinstance(error, str))
        and isinstance(checked, bool)
        and _valid_metrics(metrics)
    )


def _valid_metrics(metrics: object) -> bool:
    """Whether a decoded JSON value is a ``{name: number}`` object."""
    return isinstance(metrics, dict) and all(
        isinstance(name, str) and type(value) in (int, float) for name, value in metrics.items()
    )


def _load_cache(cache_file: Path) -> dict[str, _CacheEntry]:
    """Read the cache; a missing file is empty, a damaged one is ignored with a warning."""
    try:
        raw = json.loads(cache_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        logger.warning("ignoring unreadable inspection cache %s: %s", cache_file, exc)
        return {}
    if not isinstance(raw, dict):
        logger.warning("ignoring inspection cache %s: not a JSON object", cache_file)
        return {}
    if raw.get("format") != CACHE_FORMAT or not isinstance(raw.get("entries"), dict):
        # An older layout (a bare {key: entry} object) is expected after an upgrade: rebuild.
        logger.info("ignoring inspection cache %s: not format %d", cache_file, CACHE_FORMAT)
        return {}
    return _valid_entries(raw["entries"], cache_file=cache_file)


def _valid_entries(raw: Mapping[Any, Any], *, cache_file: Path) -> dict[str, _CacheEntry]:
    """Keep the well-formed entries of a decoded cache, warning once about the others."""
    entries = {key: value for key, value in raw.items() if _valid_entry(value)}
    if len(entries) != len(raw):
        logger.warning(
            "ignoring %d malformed entries of inspection cache %s",
            len(raw) - len(entries),
            cache_file,
        )
    return entries


def _write_cache(cache_file: Path, entries: Mapping[str, _CacheEntry]) -> None:
    """Replace the cache atomically (temp file in the same directory, then rename).

    A failure only costs the next run its cache hits, so it is logged, not raised.
    """
    try:
        content = {"format": CACHE_FORMAT, "entries": entries}
        atomic_write_text(cache_file, json.dumps(content, sort_keys=True, separators=(",", ":")))
    except OSError as exc:
        logger.warning("could not write inspection cache %s: %s", cache_file, exc)
