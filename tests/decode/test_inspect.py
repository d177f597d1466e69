"""inspect_files: hashes, corruptness check, the size/mtime cache, and a read-only input."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runner.datasource.discover import discover
from runner.datasource.sample import Sample, SampleKind
from runner.decode.inspect import CACHE_FORMAT, FileInfo, inspect_files
from runner.decode.metrics import ALL_METRICS, HEADER_METRICS


def _image(path: Path, *, seed: int, size: tuple[int, int] = (12, 8), fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def _truncated_jpeg(path: Path) -> Path:
    _image(path, seed=99, size=(64, 48), fmt="JPEG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def input_dir(tmp_path: Path) -> Path:
    root = tmp_path / "input"
    _image(root / "good.png", seed=1, size=(12, 8))
    _image(root / "sub" / "photo.jpg", seed=2, size=(20, 10), fmt="JPEG")
    _truncated_jpeg(root / "truncated.jpg")
    (root / "noise.png").write_bytes(np.random.default_rng(3).bytes(300))
    return root


def _samples(root: Path) -> list[Sample]:
    return discover(root).samples


def test_hashes_sizes_and_corrupt_files(input_dir: Path) -> None:
    samples = _samples(input_dir)

    infos = inspect_files(samples, cache_file=None, num_threads=2).infos

    assert list(infos) == ["good.png", "noise.png", "sub/photo.jpg", "truncated.jpg"]
    for sample in samples:
        expected = hashlib.sha256(sample.path.read_bytes()).hexdigest()
        assert infos[sample.key].sha256 == expected
    good = infos["good.png"]
    assert good == FileInfo(good.sha256, 12, 8, None, metrics=good.metrics)
    assert sorted(good.metrics) == sorted(ALL_METRICS)
    assert (good.metrics["width"], good.metrics["height"]) == (12, 8)
    assert good.metrics["sizeInBytes"] == (input_dir / "good.png").stat().st_size
    assert (infos["sub/photo.jpg"].width, infos["sub/photo.jpg"].height) == (20, 10)
    truncated = infos["truncated.jpg"]
    assert truncated.is_corrupt
    assert truncated.error is not None
    assert truncated.error.startswith("OSError: image file is truncated")
    assert (truncated.width, truncated.height) == (0, 0)
    assert truncated.metrics == {}
    noise = infos["noise.png"]
    assert noise.error == "UnidentifiedImageError: cannot identify image file"


def test_header_only_mode_misses_truncation_but_not_garbage(input_dir: Path) -> None:
    infos = inspect_files(
        _samples(input_dir), cache_file=None, num_threads=2, check_corruptness=False
    ).infos

    assert infos["truncated.jpg"].error is None
    assert (infos["truncated.jpg"].width, infos["truncated.jpg"].height) == (64, 48)
    assert sorted(infos["good.png"].metrics) == sorted(HEADER_METRICS)  # no pixels decoded
    assert infos["noise.png"].is_corrupt


def test_unreadable_file_is_an_error_without_hash(tmp_path: Path) -> None:
    ghost = Sample(
        key="ghost.png", path=tmp_path / "ghost.png", kind=SampleKind.IMAGE, size=1, mtime_ns=1
    )

    info = inspect_files([ghost], cache_file=None, num_threads=1).infos["ghost.png"]

    assert info.sha256 == ""
    assert info.error is not None
    assert info.error.startswith("FileNotFoundError: ")


def test_results_do_not_depend_on_thread_count(tmp_path: Path) -> None:
    root = tmp_path / "input"
    for index in range(24):
        _image(root / f"img_{index:02d}.png", seed=index, size=(8 + index, 8))
    _truncated_jpeg(root / "bad.jpg")
    samples = _samples(root)

    runs = [inspect_files(samples, cache_file=None, num_threads=n).infos for n in (1, 4, 0)]

    assert runs[0] == runs[1] == runs[2]
    assert list(runs[0]) == list(runs[1]) == [s.key for s in samples]


def test_second_call_is_answered_from_the_cache(input_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "nested" / "inspect.json"
    samples = _samples(input_dir)

    first = inspect_files(samples, cache_file=cache, num_threads=2)
    second = inspect_files(samples, cache_file=cache, num_threads=2)

    assert first.cache_hits == 0
    assert second.cache_hits == len(samples)
    assert second.infos == first.infos
    content = json.loads(cache.read_text())
    assert content["format"] == CACHE_FORMAT
    entries = content["entries"]
    assert sorted(entries) == [s.key for s in samples]
    good = next(s for s in samples if s.key == "good.png")
    assert entries["good.png"] == [
        good.size,
        good.mtime_ns,
        first.infos["good.png"].sha256,
        12,
        8,
        None,
        True,
        first.infos["good.png"].metrics,
    ]
    assert second.infos["good.png"].metrics == first.infos["good.png"].metrics  # round trip
    assert [p.name for p in cache.parent.iterdir()] == ["inspect.json"]  # no temp files left


def test_changed_file_invalidates_only_its_entry(input_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "inspect.json"
    samples = _samples(input_dir)
    first = inspect_files(samples, cache_file=cache, num_threads=2)
    changed = input_dir / "good.png"
    _image(changed, seed=42, size=(30, 5))
    os.utime(changed, ns=(1_000_000_000, 1_000_000_000))

    second = inspect_files(_samples(input_dir), cache_file=cache, num_threads=2)

    assert second.cache_hits == len(samples) - 1
    assert second.infos["good.png"].sha256 != first.infos["good.png"].sha256
    assert (second.infos["good.png"].width, second.infos["good.png"].height) == (30, 5)
    assert {k: v for k, v in second.infos.items() if k != "good.png"} == {
        k: v for k, v in first.infos.items() if k != "good.png"
    }


def test_header_only_entries_do_not_answer_a_corruptness_check(
    input_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "inspect.json"
    samples = _samples(input_dir)

    quick = inspect_files(samples, cache_file=cache, num_threads=2, check_corruptness=False)
    full = inspect_files(samples, cache_file=cache, num_threads=2, check_corruptness=True)
    quick_again = inspect_files(samples, cache_file=cache, num_threads=2, check_corruptness=False)

    assert quick.infos["truncated.jpg"].error is None
    assert full.cache_hits == 0
    assert full.infos["truncated.jpg"].is_corrupt
    assert quick_again.cache_hits == len(samples)  # full results answer the quick question
    assert quick_again.infos == full.infos


def test_cache_keeps_only_the_current_samples(input_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "inspect.json"
    samples = _samples(input_dir)
    inspect_files(samples, cache_file=cache, num_threads=2)

    result = inspect_files(samples[:2], cache_file=cache, num_threads=2)

    assert result.cache_hits == 2
    assert sorted(json.loads(cache.read_text())["entries"]) == [s.key for s in samples[:2]]


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b"[1, 2]",
        b'{"format": 3, "entries": {"good.png": [1, 2, "x"]}}',
        b'{"format": 3, "entries": {"good.png": [1, 2, "a", 4, 4, null, true, {"x": "y"}]}}',
    ],
)
def test_damaged_cache_is_ignored_with_a_warning(
    input_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    cache = tmp_path / "inspect.json"
    cache.write_bytes(content)
    samples = _samples(input_dir)

    with caplog.at_level(logging.WARNING, logger="runner.decode.inspect"):
        result = inspect_files(samples, cache_file=cache, num_threads=2)

    assert result.cache_hits == 0
    assert result.infos["good.png"].error is None
    assert any("inspection cache" in r.getMessage() for r in caplog.records)
    assert sorted(json.loads(cache.read_text())["entries"]) == [s.key for s in samples]  # repaired


def test_cache_of_an_older_format_is_ignored_and_rebuilt(input_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "inspect.json"
    samples = _samples(input_dir)
    good = next(s for s in samples if s.key == "good.png")
    old_entry = [good.size, good.mtime_ns, "0" * 64, 12, 8, None, True]  # format 1: no metrics
    cache.write_text(json.dumps({"good.png": old_entry}))

    result = inspect_files(samples, cache_file=cache, num_threads=2)

    assert result.cache_hits == 0
    assert result.infos["good.png"].sha256 != "0" * 64
    assert "sharpness" in result.infos["good.png"].metrics
    assert json.loads(cache.read_text())["format"] == CACHE_FORMAT


def _snapshot(root: Path) -> dict[str, tuple[int, bytes | None, int]]:
    """Every entry under root: mode, bytes (files) and mtime."""
    snapshot: dict[str, tuple[int, bytes | None, int]] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        status = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(status.st_mode) else None
        snapshot[path.relative_to(root).as_posix()] = (status.st_mode, data, status.st_mtime_ns)
    return snapshot


def _make_read_only(root: Path) -> dict[Path, int]:
    """``chmod -R a-w`` on root; returns the original modes for ``_restore_modes``."""
    modes = {path: path.stat().st_mode for path in [root, *root.rglob("*")]}
    for path, mode in modes.items():
        path.chmod(stat.S_IMODE(mode) & ~0o222)
    return modes


def _restore_modes(modes: dict[Path, int]) -> None:
    for path, mode in modes.items():
        path.chmod(stat.S_IMODE(mode))


def test_read_only_input_is_left_untouched(input_dir: Path, tmp_path: Path) -> None:
    _image(input_dir / ".lightly" / "frames" / "x.png", seed=5)
    cache = tmp_path / "state" / "inspect.json"
    modes = _make_read_only(input_dir)
    try:
        before = _snapshot(input_dir)
        found = discover(input_dir)
        inspect_files(found.samples, cache_file=cache, num_threads=2)
        inspect_files(found.samples, cache_file=cache, num_threads=2, check_corruptness=False)
        after = _snapshot(input_dir)
    finally:
        _restore_modes(modes)

    assert len(found.samples) == 4
    assert after == before
    assert cache.is_file()
