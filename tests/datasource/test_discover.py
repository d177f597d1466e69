"""Discovery: sorted samples from a folder tree, every other entry skipped with a reason."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runner.config import DatasetType
from runner.datasource.discover import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Discovery,
    discover,
)
from runner.datasource.sample import SampleKind
from runner.errors import ConfigError, DataError


def _image(path: Path, *, seed: int, fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def _file(path: Path, data: bytes = b"not an image") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "input"
    _image(root / "b.png", seed=1)
    _image(root / "a" / "z.png", seed=2)
    _image(root / "a" / "deeper" / "c.JPG", seed=3, fmt="JPEG")
    _image(root / "a.png", seed=4)
    _image(root / "Upper.Jpeg", seed=5, fmt="JPEG")
    _file(root / "notes.txt")
    _file(root / "a" / "labels.csv")
    _file(root / "clip.MP4", b"\x00\x00\x00\x18ftypmp42")
    _file(root / ".DS_Store")
    _image(root / ".hidden.png", seed=6)
    _file(root / ".lightly" / "metadata" / "schema.json", b"[]")
    _image(root / ".lightly" / "frames" / "f.png", seed=7)
    return root


def test_discovers_recursively_sorted_by_key(tree: Path) -> None:
    found = discover(tree)

    keys = [sample.key for sample in found.samples]
    assert keys == ["Upper.Jpeg", "a.png", "a/deeper/c.JPG", "a/z.png", "b.png"]
    assert keys == sorted(keys)


def test_samples_carry_absolute_path_kind_and_stat(tree: Path) -> None:
    found = discover(tree)

    for sample in found.samples:
        assert sample.path.is_absolute()
        assert sample.path == tree.resolve() / sample.key
        assert sample.kind is SampleKind.IMAGE
        assert sample.frame_index is None
        status = sample.path.stat()
        assert (sample.size, sample.mtime_ns) == (status.st_size, status.st_mtime_ns)


def test_skipped_entries_are_grouped_by_reason(tree: Path) -> None:
    found = discover(tree)

    assert found.skipped == {
        "hidden": [".DS_Store", ".hidden.png", ".lightly/"],
        "unsupported extension": ["a/labels.csv", "notes.txt"],
        "video file in an IMAGES dataset": ["clip.MP4"],
    }
    assert found.n_skipped == 6


def test_result_does_not_depend_on_creation_order(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    for name in ["c.png", "b/a.png", "a.png", "b.png", "a/b.png"]:
        _image(first / name, seed=0)
    for name in reversed(["c.png", "b/a.png", "a.png", "b.png", "a/b.png"]):
        _image(second / name, seed=0)

    keys_first = [s.key for s in discover(first).samples]
    keys_second = [s.key for s in discover(second).samples]

    assert keys_first == keys_second == ["a.png", "a/b.png", "b.png", "b/a.png", "c.png"]


def test_extension_sets_are_lower_case_and_disjoint() -> None:
    assert all(ext == ext.lower() and ext.startswith(".") for ext in IMAGE_EXTENSIONS)
    assert {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif"} <= IMAGE_EXTENSIONS
    assert {".mp4", ".mov", ".avi", ".webm"} <= VIDEO_EXTENSIONS
    assert not IMAGE_EXTENSIONS & VIDEO_EXTENSIONS


def test_symlinks_inside_followed_outside_skipped_directories_not_followed(
    tmp_path: Path,
) -> None:
    root = tmp_path / "input"
    _image(root / "real" / "a.png", seed=1)
    outside = _image(tmp_path / "elsewhere" / "secret.png", seed=2)
    (root / "inside_link.png").symlink_to(root / "real" / "a.png")
    (root / "outside_link.png").symlink_to(outside)
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "broken.png").symlink_to(root / "gone.png")

    found = discover(root)

    assert [s.key for s in found.samples] == ["inside_link.png", "real/a.png"]
    inside = found.samples[0]
    assert inside.size == (root / "real" / "a.png").stat().st_size
    assert found.skipped["symlink outside the input datasource"] == ["outside_link.png"]
    assert found.skipped["directory symlink not followed"] == ["loop/"]
    assert found.skipped["broken symlink"] == ["broken.png"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "input"
    locked = _image(root / "locked.png", seed=1)
    _image(root / "open.png", seed=2)
    locked.chmod(0)
    try:
        found = discover(root)
    finally:
        locked.chmod(0o644)

    assert [s.key for s in found.samples] == ["open.png"]
    assert found.skipped == {"not readable": ["locked.png"]}


def test_file_without_read_access_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same rule as above, observable when the tests run as root."""
    root = tmp_path / "input"
    locked = _image(root / "locked.png", seed=1)
    _image(root / "open.png", seed=2)
    real_access = os.access

    def access(path: os.PathLike[str] | str, mode: int) -> bool:
        return Path(path).name != locked.name and real_access(path, mode)

    monkeypatch.setattr(os, "access", access)

    found = discover(root)

    assert [s.key for s in found.samples] == ["open.png"]
    assert found.skipped == {"not readable": ["locked.png"]}


def _with_relevant(root: Path, text: str) -> Discovery:
    rules = _file(root / ".lightly" / "relevant.txt", text.encode())
    return discover(root, relevant_filenames_file=rules)


def test_relevant_filenames_select_exact_and_prefix_paths(tmp_path: Path) -> None:
    root = tmp_path / "input"
    for index, name in enumerate(
        ["a.png", "b.png", "subdir/image_1.png", "subdir/image_4.png", "subdir/image_41.png"]
    ):
        _image(root / name, seed=index)
    _file(root / "subdir" / "notes.txt")

    found = _with_relevant(root, "a.png\nsubdir/* subdir/image_4* !subdir/image_41.png\n")

    assert [s.key for s in found.samples] == ["a.png", "subdir/image_1.png", "subdir/image_41.png"]
    assert found.skipped["not in relevant_filenames_file"] == ["b.png", "subdir/image_4.png"]
    assert found.skipped["unsupported extension"] == ["subdir/notes.txt"]
    assert found.skipped["hidden"] == [".lightly/"]


def test_listed_paths_that_do_not_exist_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "input"
    _image(root / "a.png", seed=1)

    found = _with_relevant(root, "a.png\nmissing.png\nsub/also_missing.jpg\n")

    assert [s.key for s in found.samples] == ["a.png"]
    assert found.skipped["listed in relevant_filenames_file but not found"] == [
        "missing.png",
        "sub/also_missing.jpg",
    ]


def test_invalid_relevant_filenames_file_fails_discovery(tmp_path: Path) -> None:
    root = tmp_path / "input"
    _image(root / "a.png", seed=1)

    with pytest.raises(ConfigError, match="line 1"):
        _with_relevant(root, "/abs/a.png\n")


def test_missing_input_directory_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError):
        discover(tmp_path / "nope")
    with pytest.raises(DataError):
        discover(_file(tmp_path / "file.png"))


def test_images_in_a_videos_dataset_are_skipped_with_a_reason(tmp_path: Path) -> None:
    _image(tmp_path / "a.png", seed=1)

    found = discover(tmp_path, dataset_type=DatasetType.VIDEOS)

    assert found.samples == [] and found.videos == []
    assert found.skipped == {"image file in a VIDEOS dataset": ["a.png"]}
