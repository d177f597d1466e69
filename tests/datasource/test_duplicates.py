"""Exact duplicates: same bytes under different names; the first sorted key is kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from runner.datasource.discover import discover
from runner.datasource.duplicates import find_exact_duplicates
from runner.decode.inspect import FileInfo, inspect_files


def _info(sha256: str, error: str | None = None) -> FileInfo:
    return FileInfo(sha256=sha256, width=0 if error else 4, height=0 if error else 4, error=error)


def test_duplicates_map_to_the_first_sorted_key() -> None:
    infos = {
        "c.png": _info("h1"),
        "a/copy.png": _info("h1"),
        "b.png": _info("h2"),
        "z.png": _info("h1"),
        "d.png": _info("h2"),
        "unique.png": _info("h3"),
    }

    duplicates = find_exact_duplicates(list(infos), infos)

    assert duplicates == {"c.png": "a/copy.png", "z.png": "a/copy.png", "d.png": "b.png"}


def test_result_does_not_depend_on_key_order() -> None:
    infos = {"b.png": _info("h"), "a.png": _info("h"), "c.png": _info("h")}

    assert find_exact_duplicates(["c.png", "b.png", "a.png"], infos) == find_exact_duplicates(
        ["a.png", "b.png", "c.png"], infos
    )
    assert find_exact_duplicates(["c.png", "b.png", "a.png"], infos) == {
        "b.png": "a.png",
        "c.png": "a.png",
    }


def test_corrupt_and_unreadable_files_never_count() -> None:
    infos = {
        "a.jpg": _info("same", error="OSError: image file is truncated"),
        "b.jpg": _info("same", error="OSError: image file is truncated"),
        "c.png": _info("", error="PermissionError: denied"),
        "d.png": _info("", error="PermissionError: denied"),
    }

    assert find_exact_duplicates(list(infos), infos) == {}


def test_corrupt_file_does_not_claim_the_kept_slot() -> None:
    infos = {
        "a.png": _info("same", error="SyntaxError: broken"),
        "b.png": _info("same"),
        "c.png": _info("same"),
    }

    assert find_exact_duplicates(list(infos), infos) == {"c.png": "b.png"}


def test_only_the_given_keys_are_compared() -> None:
    infos = {"a.png": _info("h"), "b.png": _info("h"), "c.png": _info("h")}

    assert find_exact_duplicates(["b.png", "c.png"], infos) == {"c.png": "b.png"}


def test_byte_identical_copies_on_disk(tmp_path: Path) -> None:
    root = tmp_path / "input"
    (root / "sub").mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "original.png")
    shutil.copyfile(root / "original.png", root / "sub" / "copy.png")
    shutil.copyfile(root / "original.png", root / "another_copy.png")
    Image.fromarray(255 - pixels).save(root / "different.png")
    samples = discover(root).samples
    infos = inspect_files(samples, cache_file=None, num_threads=2).infos

    duplicates = find_exact_duplicates([s.key for s in samples], infos)

    assert duplicates == {"original.png": "another_copy.png", "sub/copy.png": "another_copy.png"}
