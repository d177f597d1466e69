"""The video corruptness check: cut files, corrupt frames, the threshold, and its cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import numpy as np
import pytest
from videofix import numbered_frames, write_video

import runner.decode.video_inspect as video_inspect
from runner.datasource.video_samples import frame_samples
from runner.datasource.videos import VideoFile
from runner.decode.video_cache import decode_runs, encode_runs
from runner.decode.video_inspect import VideoInspection, inspect_videos


def _file(path: Path, key: str | None = None) -> VideoFile:
    status = path.stat()
    return VideoFile(key or path.name, path, status.st_size, status.st_mtime_ns)


def _inspect(
    *paths: Path, threshold: float = 0.1, cache: Path | None = None, check: bool = True
) -> VideoInspection:
    return inspect_videos(
        [_file(p) for p in paths],
        cache_file=cache,
        check_corruptness=check,
        corruption_threshold=threshold,
        num_threads=2,
    )


def _damage_packets(source: Path, target: Path, packets: tuple[int, ...]) -> Path:
    """Copy ``source`` with the payload of some packets replaced by random bytes."""
    with av.open(str(source)) as container:
        positions = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(source.read_bytes())
    rng = np.random.default_rng(0)
    for index in packets:
        pos, size = positions[index]
        assert pos is not None
        data[pos : pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    target.write_bytes(bytes(data))
    return target


@pytest.fixture()
def intra(tmp_path: Path) -> Path:
    """30 frames, every one a keyframe, index at the start of the file (faststart)."""
    return write_video(tmp_path / "src" / "intra.mp4", numbered_frames(30), gop=1, faststart=True)


def test_corrupt_frames_are_named_and_the_rest_of_the_video_is_used(
    intra: Path, tmp_path: Path
) -> None:
    bad = _damage_packets(intra, tmp_path / "bad.mp4", (5, 6, 20))
    inspection = _inspect(bad, threshold=0.1)  # 3 of 30 = 0.1 is not above the threshold
    assert inspection.corrupt_videos() == {}
    samples = inspection.corrupt_samples()
    assert list(samples) == ["bad-05-mp4.png", "bad-06-mp4.png", "bad-20-mp4.png"]
    assert all(reason.startswith("InvalidDataError") for reason in samples.values())
    frames = frame_samples([_file(bad)], inspection)
    assert len(frames) == 27 and not set(samples) & {f.key for f in frames}
    assert inspection.usable()["bad.mp4"].n_frames == 30  # corrupt frames keep their slot


def test_above_the_threshold_the_whole_video_is_corrupt(intra: Path, tmp_path: Path) -> None:
    bad = _damage_packets(intra, tmp_path / "bad.mp4", (5, 6, 20, 21))
    inspection = _inspect(bad, threshold=0.1)
    (reason,) = inspection.corrupt_videos().values()
    assert reason.startswith("CorruptVideoError: 4 of 30 frames (13.3%)")
    assert "corruption_threshold=0.1" in reason and "InvalidDataError" in reason
    assert inspection.corrupt_samples() == {} and inspection.usable() == {}
    assert frame_samples([_file(bad)], inspection) == []
    strict = _inspect(bad, threshold=0.0)
    assert list(strict.corrupt_videos()) == ["bad.mp4"]


def test_a_cut_file_without_its_index_is_a_corrupt_video(tmp_path: Path) -> None:
    whole = write_video(tmp_path / "whole.mp4", numbered_frames(30))  # index at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    inspection = _inspect(cut, whole)
    assert inspection.corrupt_videos() == {
        "cut.mp4": "InvalidDataError: Invalid data found when processing input"
    }
    assert list(inspection.usable()) == ["whole.mp4"]


def test_a_cut_file_with_its_index_loses_its_tail_frames(intra: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(intra.read_bytes()[: intra.stat().st_size * 3 // 4])
    lenient = _inspect(cut, threshold=0.5)
    samples = lenient.corrupt_samples()
    assert samples and all(reason.startswith("MissingFrameError") for reason in samples.values())
    missing = sorted(int(name.split("-")[1]) for name in samples)
    assert missing == list(range(missing[0], 30)) and missing[0] > 15  # the tail only
    assert len(frame_samples([_file(cut)], lenient)) == missing[0]
    assert list(_inspect(cut, threshold=0.1).corrupt_videos()) == ["cut.mp4"]


def test_empty_and_non_video_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mov"
    text.write_text("not a video")
    inspection = _inspect(empty, text)
    assert set(inspection.corrupt_videos()) == {"empty.mp4", "notes.mov"}


def test_results_are_cached_per_file_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "lightly" / ".lightly" / "cache" / "video_inspect.json"
    video = write_video(tmp_path / "in" / "a.mp4", numbered_frames(40))
    first = _inspect(video, cache=cache)
    assert first.cache_hits == 0 and cache.is_file()
    stored = json.loads(cache.read_text())
    assert stored["format"] == 1
    entry = stored["entries"]["a.mp4"]
    assert entry["decoded"] is True and len(entry["scan"]["pts"]) == 1  # one run of timestamps

    def no_scan(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unchanged video must not be decoded again")

    monkeypatch.setattr(video_inspect, "scan_video", no_scan)
    again = _inspect(video, cache=cache)
    assert again.cache_hits == 1 and again.usable() == first.usable()
    assert _inspect(video, cache=cache, check=False).cache_hits == 1  # decoded answers both
    monkeypatch.undo()
    os.utime(video, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns + 10**9))
    assert _inspect(video, cache=cache).cache_hits == 0


def test_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "cache.json"
    cache.write_text("{not json")
    video = write_video(tmp_path / "a.mp4", numbered_frames(10))
    assert _inspect(video, cache=cache).usable()["a.mp4"].n_frames == 10
    cache.write_text(json.dumps({"format": 1, "entries": {"a.mp4": {"size": "x"}}}))
    assert _inspect(video, cache=cache).cache_hits == 0
    assert _inspect(video, cache=cache).cache_hits == 1


@pytest.mark.parametrize(
    "values",
    [(), (5,), (0, 512), (0, 512, 1024, 1536, 9000), (3, 1, 2), tuple(range(0, 30000, 2))],
)
def test_timestamp_runs_round_trip(values: tuple[int, ...]) -> None:
    runs = encode_runs(values)
    assert decode_runs(runs) == values
    if len(values) > 100:
        assert runs == [[0, 2, 15000]]
