"""Benchmark: reading the object crops of one photo, one shared decode vs one decode per crop.

The embedding dataset cuts every crop from the full-resolution upright image
(``runner.embedding.dataset.read_sample``); crops arrive sorted by key, so the crops of one
image are neighbours and share the last decode. This measures that against decoding the image
again for every crop, alternated in one process, on a 1920x1080 q90 JPEG (a real photo from
scikit-image, written to a temp folder) with ``--objects`` boxes of 300x250 px.

Results replace the ``## Object crops: decode`` section of ``docs/benchmarks.md``.

Usage: ``python benchmarks/crop_decode.py [--objects 10] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from docs_section import replace_section  # benchmarks/ is on sys.path
from PIL import Image
from skimage import data

from runner.datasource.sample import Sample, SampleKind
from runner.decode.image import open_image
from runner.embedding import dataset


def crops_of(path: Path, n: int) -> list[Sample]:
    stat = path.stat()
    return [
        Sample(
            key=f"crop-{i}",
            path=path,
            kind=SampleKind.IMAGE,
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            box=(100 * i % 1600, 50 * i % 800, 100 * i % 1600 + 300, 50 * i % 800 + 250),
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        Image.fromarray(data.astronaut()).resize((1920, 1080)).save(path, quality=90)
        samples = crops_of(path, args.objects)

        def shared() -> None:
            dataset._full_image.cache_clear()
            for sample in samples:
                dataset.read_sample(sample, draft_size=128)

        def each() -> None:
            for sample in samples:
                assert sample.box is not None
                open_image(sample.path).crop(sample.box)

        runs: dict[str, list[float]] = {"shared decode": [], "decode per crop": []}
        cases: list[tuple[str, Callable[[], None]]] = [
            ("shared decode", shared),
            ("decode per crop", each),
        ]
        for _ in range(args.rounds):
            for name, fn in cases:  # alternated, so both see the same machine load
                start = time.perf_counter()
                fn()
                runs[name].append((time.perf_counter() - start) * 1000)
    median = {name: statistics.median(times) for name, times in runs.items()}
    rows = "\n".join(f"| {name} | {ms:.0f} |" for name, ms in median.items())
    ratio = median["decode per crop"] / median["shared decode"]
    machine = f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs)"
    flags = f"--objects {args.objects} --rounds {args.rounds}"
    section = f"""## Object crops: decode

- Date: {datetime.now(UTC).date()}
- Machine: {machine}, Python {platform.python_version()}
- Command: `.venv/bin/python benchmarks/crop_decode.py {flags}`
- Workload: the {args.objects} crops (300x250) of one 1920x1080 q90 JPEG, median of
  {args.rounds} alternated rounds.

| reading | ms per image |
|---|---:|
{rows}

Sharing the decode among an image's crops is {ratio:.1f}x faster for {args.objects} objects.
"""
    replace_section(section)
    print(section)


if __name__ == "__main__":
    main()
