"""Selected frames as PNG in ``.lightly/frames``, frame thumbnails, and a read-only input."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from videofix import numbered_frames, read_barcode, write_video

from runner.artifacts.frames import MANIFEST_NAME, FrameExport, export_frames, frames_dir
from runner.artifacts.lightly_thumbnails import thumbnail_relpath, write_lightly_thumbnails
from runner.config import DatasetType
from runner.datasource.discover import discover
from runner.datasource.sample import Sample
from runner.datasource.video_samples import frame_samples
from runner.decode.video_inspect import VideoInspection, inspect_videos
from runner.report.thumbnails import make_thumbnails
from tests.conftest import make_read_only, make_writable, snapshot

SUFFIX = ".lightly/thumbnails/[filename]_thumb.[extension]"


@pytest.fixture()
def tree(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A read-only input folder with two videos, and an empty Lightly datasource."""
    input_dir, lightly_dir = tmp_path / "input", tmp_path / "lightly"
    write_video(input_dir / "a.mp4", numbered_frames(40), gop=8)
    write_video(input_dir / "sub" / "b.avi", numbered_frames(12, width=120, height=60))
    lightly_dir.mkdir()
    make_read_only(input_dir)
    yield input_dir, lightly_dir
    make_writable(input_dir)


def _candidates(input_dir: Path, lightly_dir: Path) -> tuple[list[Sample], VideoInspection]:
    found = discover(input_dir, dataset_type=DatasetType.VIDEOS)
    inspection = inspect_videos(
        found.videos,
        cache_file=lightly_dir / ".lightly" / "cache" / "video_inspect.json",
        check_corruptness=True,
        corruption_threshold=0.1,
        num_threads=2,
    )
    return frame_samples(found.videos, inspection), inspection


def _pick(samples: list[Sample], keys: list[str]) -> list[Sample]:
    by_key = {s.key: s for s in samples}
    return [by_key[k] for k in keys]


def _export(
    samples: list[Sample], keys: list[str], inspection: VideoInspection, lightly: Path, run: str
) -> FrameExport:
    return export_frames(
        _pick(samples, keys),
        lightly_dir=lightly,
        videos=inspection.infos_by_path(),
        run_id=run,
        num_threads=2,
    )


def test_frames_are_written_once_and_stale_ones_removed(tree: tuple[Path, Path]) -> None:
    input_dir, lightly_dir = tree
    before = snapshot(input_dir)
    samples, inspection = _candidates(input_dir, lightly_dir)
    out = frames_dir(lightly_dir)
    first_keys = ["a-03-mp4.png", "a-17-mp4.png", "sub/b-05-avi.png"]
    first = _export(samples, first_keys, inspection, lightly_dir, "run1")
    assert first.written == sorted(first_keys) and first.failed == {} and first.removed == []
    for key in first_keys:
        image = Image.open(out / key)
        assert image.format == "PNG" and image.mode == "RGB"
        assert image.size == ((120, 60) if key.startswith("sub/") else (96, 48))
        assert read_barcode(np.asarray(image)) == int(key.split("-")[-2])
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["run_id"] == "run1" and sorted(manifest["frames"]) == sorted(first_keys)
    mtimes = {k: (out / k).stat().st_mtime_ns for k in first_keys}

    again = _export(samples, first_keys, inspection, lightly_dir, "run2")
    assert again.written == [] and again.kept == sorted(first_keys)
    assert {k: (out / k).stat().st_mtime_ns for k in first_keys} == mtimes

    (out / "mine.png").write_bytes(b"a user's file")
    second_keys = ["a-03-mp4.png", "a-39-mp4.png"]
    second = _export(samples, second_keys, inspection, lightly_dir, "run3")
    assert second.written == ["a-39-mp4.png"] and second.kept == ["a-03-mp4.png"]
    assert second.removed == ["a-17-mp4.png", "sub/b-05-avi.png"]
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert files == [MANIFEST_NAME, "a-03-mp4.png", "a-39-mp4.png", "mine.png"]  # no sub/
    assert snapshot(input_dir) == before


def test_a_changed_video_rewrites_its_frames(tree: tuple[Path, Path]) -> None:
    input_dir, lightly_dir = tree
    samples, inspection = _candidates(input_dir, lightly_dir)
    _export(samples, ["a-10-mp4.png"], inspection, lightly_dir, "r1")
    make_writable(input_dir)
    write_video(input_dir / "a.mp4", numbered_frames(40)[::-1], gop=8)  # same name, new frames
    os.utime(input_dir / "a.mp4", ns=(1, 10**18))
    samples, inspection = _candidates(input_dir, lightly_dir)
    result = _export(samples, ["a-10-mp4.png"], inspection, lightly_dir, "r2")
    assert result.written == ["a-10-mp4.png"]
    image = np.asarray(Image.open(frames_dir(lightly_dir) / "a-10-mp4.png"))
    assert read_barcode(image) == 29


def test_invalid_frame_names_are_refused_before_writing(tree: tuple[Path, Path]) -> None:
    input_dir, lightly_dir = tree
    samples, inspection = _candidates(input_dir, lightly_dir)
    bad = Sample("../escape.png", samples[0].path, samples[0].kind, 1, 1, 0)
    with pytest.raises(ValueError, match="invalid frame name"):
        export_frames([bad], lightly_dir=lightly_dir, videos=inspection.infos_by_path(), run_id="r")
    assert not frames_dir(lightly_dir).exists()


def test_frame_thumbnails_and_report_thumbnails(tree: tuple[Path, Path], tmp_path: Path) -> None:
    input_dir, lightly_dir = tree
    samples, inspection = _candidates(input_dir, lightly_dir)
    picked = _pick(samples, ["a-00-mp4.png", "a-25-mp4.png", "sub/b-11-avi.png"])
    videos = inspection.infos_by_path()
    stats = write_lightly_thumbnails(
        picked, lightly_dir=lightly_dir, suffix=SUFFIX, num_threads=2, size=64, videos=videos
    )
    assert (stats.written, stats.kept, stats.failed) == (3, 0, 0)
    assert (
        thumbnail_relpath("sub/b-11-avi.png", SUFFIX)
        == ".lightly/thumbnails/sub/b-11-avi_thumb.png"
    )
    thumb = Image.open(lightly_dir / ".lightly/thumbnails/a-25-mp4_thumb.png")
    assert thumb.format == "PNG" and max(thumb.size) == 64
    again = write_lightly_thumbnails(
        picked, lightly_dir=lightly_dir, suffix=SUFFIX, num_threads=2, size=64, videos=videos
    )
    assert (again.written, again.kept) == (0, 3)
    # The report's thumbnails read the exported frames.
    export_frames(picked, lightly_dir=lightly_dir, videos=videos, run_id="r")
    written = make_thumbnails(
        keys=[s.key for s in picked],
        input_dir=frames_dir(lightly_dir),
        out_dir=tmp_path / "run" / "thumbnails",
        size=32,
    )
    assert written == {s.key: f"thumbnails/{i:04d}.jpg" for i, s in enumerate(picked)}
