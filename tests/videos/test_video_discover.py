"""Discovery of videos (``dataset.type: VIDEOS``), frames as samples, stride and target fps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from videofix import numbered_frames, write_video

from runner.config import DatasetType
from runner.datasource.discover import (
    SKIP_HIDDEN,
    SKIP_IMAGE_IN_VIDEOS,
    SKIP_NOT_RELEVANT,
    SKIP_UNSUPPORTED,
    discover,
)
from runner.datasource.duplicates import find_exact_duplicates
from runner.datasource.sample import SampleKind
from runner.datasource.video_samples import (
    check_video_options,
    frame_content_hashes,
    frame_hash_infos,
    frame_samples,
    prepare_frames,
    subsample_indices,
)
from runner.decode.video import VideoInfo
from runner.decode.video_inspect import VideoInspection, inspect_videos
from runner.errors import ConfigError


def _inspect(found_videos: list, check: bool = False) -> VideoInspection:  # type: ignore[type-arg]
    return inspect_videos(
        found_videos,
        cache_file=None,
        check_corruptness=check,
        corruption_threshold=0.1,
        num_threads=2,
    )


@pytest.fixture()
def mixed(tmp_path: Path) -> Path:
    """Videos with upper- and lower-case extensions, an image, a text file, a hidden video."""
    root = tmp_path / "input"
    write_video(root / "a.mp4", numbered_frames(12))
    write_video(root / "sub" / "B.MOV", numbered_frames(8))
    write_video(root / ".hidden.mp4", numbered_frames(4))
    (root / "photo.png").write_bytes((root / "a.mp4").read_bytes()[:10])
    (root / "notes.txt").write_text("hello")
    return root


def test_mixed_folder_keeps_videos_and_skips_the_rest_with_reasons(mixed: Path) -> None:
    found = discover(mixed, dataset_type=DatasetType.VIDEOS)
    assert [v.key for v in found.videos] == ["a.mp4", "sub/B.MOV"]
    assert found.samples == []
    assert found.skipped == {
        SKIP_HIDDEN: [".hidden.mp4"],
        SKIP_IMAGE_IN_VIDEOS: ["photo.png"],
        SKIP_UNSUPPORTED: ["notes.txt"],
    }
    video = found.videos[1]
    assert video.path == mixed / "sub" / "B.MOV" and video.size == video.path.stat().st_size
    samples = frame_samples(found.videos, _inspect(found.videos))
    assert [s.key for s in samples] == [f"a-{i:02d}-mp4.png" for i in range(12)] + [
        f"sub/B-{i}-MOV.png" for i in range(8)
    ]
    first = samples[0]
    assert first.kind is SampleKind.VIDEO_FRAME and first.frame_index == 0
    assert first.path == mixed / "a.mp4" and first.mtime_ns == found.videos[0].mtime_ns


def test_relevant_filenames_apply_to_video_paths(mixed: Path, tmp_path: Path) -> None:
    relevant = tmp_path / "lightly" / ".lightly" / "relevant.txt"
    relevant.parent.mkdir(parents=True)
    relevant.write_text("sub/*\n")
    found = discover(mixed, relevant_filenames_file=relevant, dataset_type=DatasetType.VIDEOS)
    assert [v.key for v in found.videos] == ["sub/B.MOV"]
    assert "a.mp4" in found.skipped[SKIP_NOT_RELEVANT]


def test_images_dataset_still_skips_videos(mixed: Path) -> None:
    found = discover(mixed, dataset_type=DatasetType.IMAGES)
    assert found.videos == [] and [s.key for s in found.samples] == ["photo.png"]


def _info(n_frames: int, fps: float, step: int = 512) -> VideoInfo:
    return VideoInfo(
        n_frames=n_frames,
        fps=fps,
        time_base=Fraction(1, int(fps * step)),
        width=64,
        height=48,
        codec="mpeg4",
        pts=tuple(1000 + i * step for i in range(n_frames)),
        keyframes=(0,),
    )


def test_stride_and_target_fps_pick_frames_but_keep_original_indices() -> None:
    info = _info(30, 30.0)
    assert subsample_indices(info) == list(range(30))
    assert subsample_indices(info, frame_stride=7) == [0, 7, 14, 21, 28]
    assert subsample_indices(info, target_fps=5) == [0, 6, 12, 18, 24]
    assert subsample_indices(info, target_fps=5, frame_stride=2) == [0, 12, 24]
    assert subsample_indices(info, target_fps=60) == list(range(30))
    assert subsample_indices(_info(50, 25.0), target_fps=10) == [
        0, 3, 5, 8, 10, 13, 15, 18, 20, 23, 25, 28, 30, 33, 35, 38, 40, 43, 45, 48
    ]  # fmt: skip


def test_invalid_video_options_fail_with_one_line() -> None:
    with pytest.raises(ConfigError, match="frame_stride=0"):
        check_video_options(frame_stride=0, target_fps=None)
    with pytest.raises(ConfigError, match="target_fps=-1"):
        check_video_options(frame_stride=1, target_fps=-1.0)


def test_real_video_with_stride_keeps_padding_of_the_full_video(tmp_path: Path) -> None:
    write_video(tmp_path / "in" / "clip.mp4", numbered_frames(120), fps=30)
    found = discover(tmp_path / "in", dataset_type=DatasetType.VIDEOS)
    inspection = _inspect(found.videos)
    keys = [s.key for s in frame_samples(found.videos, inspection, frame_stride=50)]
    assert keys == ["clip-000-mp4.png", "clip-050-mp4.png", "clip-100-mp4.png"]
    by_fps = frame_samples(found.videos, inspection, target_fps=2.0)
    assert [s.frame_index for s in by_fps] == [0, 15, 30, 45, 60, 75, 90, 105]


def test_frame_content_hashes_follow_the_bytes_not_the_name(tmp_path: Path) -> None:
    write_video(tmp_path / "in" / "one.mp4", numbered_frames(6))
    (tmp_path / "in" / "copy.mp4").write_bytes((tmp_path / "in" / "one.mp4").read_bytes())
    write_video(tmp_path / "in" / "other.mp4", numbered_frames(7))
    found = discover(tmp_path / "in", dataset_type=DatasetType.VIDEOS)
    inspection = _inspect(found.videos)
    samples = frame_samples(found.videos, inspection)
    hashes = frame_content_hashes(samples, inspection)
    assert hashes["one-3-mp4.png"] == hashes["copy-3-mp4.png"]
    assert hashes["one-3-mp4.png"] != hashes["one-4-mp4.png"] != hashes["other-4-mp4.png"]
    assert len(set(hashes.values())) == 6 + 7
    duplicates = find_exact_duplicates(list(hashes), frame_hash_infos(hashes))
    assert duplicates == {f"one-{i}-mp4.png": f"copy-{i}-mp4.png" for i in range(6)}


def test_prepare_frames_drops_corrupt_videos_and_copies(tmp_path: Path) -> None:
    root = tmp_path / "in"
    write_video(root / "a.mp4", numbered_frames(30))
    (root / "copy.mp4").write_bytes((root / "a.mp4").read_bytes())
    (root / "cut.mp4").write_bytes((root / "a.mp4").read_bytes()[:2000])
    found = discover(root, dataset_type=DatasetType.VIDEOS)
    cache = tmp_path / "lightly" / ".lightly" / "cache" / "video_inspect.json"
    prepared = prepare_frames(
        found.videos,
        cache_file=cache,
        check_corruptness=True,
        corruption_threshold=0.1,
        num_threads=-1,
        frame_stride=10,
    )
    assert [s.key for s in prepared.samples] == ["a-00-mp4.png", "a-10-mp4.png", "a-20-mp4.png"]
    assert set(prepared.content_hashes) == {s.key for s in prepared.samples}
    assert prepared.duplicates == {f"copy-{i}0-mp4.png": f"a-{i}0-mp4.png" for i in range(3)}
    assert list(prepared.corrupt_videos) == ["cut.mp4"] and prepared.corrupt_samples == {}
    assert cache.is_file()
    kept_all = prepare_frames(
        found.videos,
        cache_file=cache,
        check_corruptness=True,
        corruption_threshold=0.1,
        num_threads=1,
        remove_exact_duplicates=False,
    )
    assert len(kept_all.samples) == 60 and kept_all.inspection.cache_hits == 3
