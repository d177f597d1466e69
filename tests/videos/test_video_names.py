"""Lightly's frame names: padding, parsing, and the per-frame prediction/metadata files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from videofix import numbered_frames, write_video

from runner.config import DatasetType
from runner.datasource.discover import discover
from runner.datasource.video_samples import frame_samples
from runner.datasource.videos import (
    frame_name,
    metadata_files,
    parse_frame_name,
    per_sample_json,
    split_video_key,
    video_metadata_json,
)
from runner.decode.video_inspect import inspect_videos


@pytest.mark.parametrize(
    ("n_frames", "index", "expected"),
    [
        (9, 0, "clip-0-mp4.png"),
        (9, 8, "clip-8-mp4.png"),
        (10, 0, "clip-00-mp4.png"),
        (10, 9, "clip-09-mp4.png"),
        (99, 98, "clip-98-mp4.png"),
        (100, 0, "clip-000-mp4.png"),
        (100, 99, "clip-099-mp4.png"),
        (200, 99, "clip-099-mp4.png"),
        (290, 24, "clip-024-mp4.png"),
        (1000, 7, "clip-0007-mp4.png"),
        (1000, 999, "clip-0999-mp4.png"),
    ],
)
def test_padding_is_the_length_of_the_frame_count(n_frames: int, index: int, expected: str) -> None:
    assert frame_name("clip.mp4", index, n_frames) == expected


def test_names_keep_folders_case_and_dots() -> None:
    assert frame_name("sub/dir/video_1.MOV", 99, 200) == "sub/dir/video_1-099-MOV.png"
    assert frame_name("a.b/my-clip.v2.webm", 3, 12) == "a.b/my-clip.v2-03-webm.png"
    assert split_video_key("a.b/my-clip.v2.webm") == ("a.b/my-clip.v2", "webm")
    with pytest.raises(ValueError, match="outside"):
        frame_name("clip.mp4", 10, 10)
    with pytest.raises(ValueError, match="without extension"):
        frame_name("clip", 0, 10)


@pytest.mark.parametrize(
    "video_key", ["clip.mp4", "sub/my-clip-2.avi", "x-1-mp4.mov", "a.b/c.d.webm"]
)
def test_parse_inverts_the_name(video_key: str) -> None:
    for n_frames, index in [(9, 3), (100, 42), (1000, 999)]:
        parsed = parse_frame_name(frame_name(video_key, index, n_frames))
        assert (parsed.video_key, parsed.index, parsed.width) == (
            video_key,
            index,
            len(str(n_frames)),
        )


@pytest.mark.parametrize("name", ["clip.png", "clip-12.png", "clip-x-mp4.png", "a-1-mp4.jpg"])
def test_parse_rejects_non_frame_names(name: str) -> None:
    with pytest.raises(ValueError, match="not a frame name"):
        parse_frame_name(name)


def test_prediction_and_metadata_file_names() -> None:
    frame = "subdir/video_1-099-mp4.png"
    assert per_sample_json(frame) == "subdir/video_1-099-mp4.json"
    assert video_metadata_json(frame) == "subdir/video_1.json"
    assert metadata_files(frame) == ("subdir/video_1-099-mp4.json", "subdir/video_1.json")
    assert per_sample_json("subdir/image_1.png") == "subdir/image_1.json"


def _frames_of(folder: Path) -> list[str]:
    found = discover(folder, dataset_type=DatasetType.VIDEOS)
    inspection = inspect_videos(
        found.videos,
        cache_file=None,
        check_corruptness=False,
        corruption_threshold=0.1,
        num_threads=1,
    )
    return [s.key for s in frame_samples(found.videos, inspection)]


def test_real_videos_get_padded_keys_for_every_frame(tmp_path: Path) -> None:
    write_video(tmp_path / "in" / "nine.mp4", numbered_frames(9))
    write_video(tmp_path / "in" / "sub" / "ten.avi", numbered_frames(10))
    write_video(tmp_path / "in" / "k.mp4", numbered_frames(1000, height=16), gop=100)
    keys = _frames_of(tmp_path / "in")
    assert len(keys) == 9 + 10 + 1000
    assert keys[:3] == ["k-0000-mp4.png", "k-0001-mp4.png", "k-0002-mp4.png"]
    assert "k-0999-mp4.png" in keys and "k-1000-mp4.png" not in keys
    assert [k for k in keys if k.startswith("nine")] == [f"nine-{i}-mp4.png" for i in range(9)]
    assert [k for k in keys if k.startswith("sub/")] == [
        f"sub/ten-{i:02d}-avi.png" for i in range(10)
    ]


def test_per_frame_prediction_and_metadata_files_are_found_by_key(tmp_path: Path) -> None:
    write_video(tmp_path / "in" / "sub" / "clip.mp4", numbered_frames(12))
    lightly = tmp_path / "lightly" / ".lightly"
    predictions = lightly / "predictions" / "det"
    for index in (0, 7):
        path = predictions / f"sub/clip-{index:02d}-mp4.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        content = {"file_name": f"sub/clip-{index:02d}-mp4.png", "predictions": []}
        path.write_text(json.dumps(content))
    (lightly / "metadata" / "sub").mkdir(parents=True)
    (lightly / "metadata" / "sub" / "clip.json").write_text('{"type": "video", "metadata": {}}')
    keys = _frames_of(tmp_path / "in")
    with_prediction = [k for k in keys if (predictions / per_sample_json(k)).is_file()]
    assert with_prediction == ["sub/clip-00-mp4.png", "sub/clip-07-mp4.png"]
    for key in with_prediction:
        stored = json.loads((predictions / per_sample_json(key)).read_text())
        assert stored["file_name"] == key
    metadata = lightly / "metadata"
    assert all((metadata / video_metadata_json(k)).is_file() for k in keys)
    assert not any((metadata / per_sample_json(k)).is_file() for k in keys)
