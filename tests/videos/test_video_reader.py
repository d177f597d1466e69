"""Frame tables and frame readers on real encoded videos of every supported container."""

from __future__ import annotations

from pathlib import Path

import pytest
from videofix import decoded_indices, numbered_frames, read_barcode, write_video

from runner.decode.video import (
    MissingFrameError,
    UnseekableFrameError,
    VideoInfo,
    VideoOpenError,
    frame_to_image,
)
from runner.decode.video_probe import probe_video, scan_video
from runner.decode.video_reader import VideoReader

CONTAINERS = [
    ("clip.mp4", "mpeg4"),
    ("clip.avi", "mpeg4"),
    ("clip.mov", "mpeg4"),
    ("clip.webm", "libvpx-vp9"),
    ("clip.mpg", "mpeg2video"),
    ("clip.m4v", "libx264"),  # B-frames: decode order differs from packet order
]


def _index(frame: object) -> int:
    return read_barcode(frame.to_ndarray(format="rgb24"))  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("containers")
    return {
        name: write_video(folder / name, numbered_frames(40), codec=codec, gop=10)
        for name, codec in CONTAINERS
    }


@pytest.mark.parametrize(("name", "codec"), CONTAINERS)
def test_probe_and_scan_agree_with_pyav_decode_order(
    videos: dict[str, Path], name: str, codec: str
) -> None:
    assert decoded_indices(videos[name]) == list(range(40))
    probed = probe_video(videos[name])
    scanned = scan_video(videos[name], decode=True)
    assert probed.n_frames == scanned.info.n_frames == 40
    assert probed.pts == scanned.info.pts
    if name == "clip.mpg":
        # MPEG-PS repeats a timestamp at GOP boundaries here: frames are numbered in decode
        # order and read from the start instead of by timestamp.
        assert probed.pts is None
    else:
        assert probed.pts is not None and list(probed.pts) == sorted(set(probed.pts))
    assert scanned.corrupt_frames == {} and scanned.unnamed_failures == ()
    assert probed.fps == pytest.approx(25.0)
    assert scanned.info.keyframes[0] == 0
    assert scanned.info.timestamp_sec(25) - scanned.info.timestamp_sec(0) == pytest.approx(
        1.0, 0.05
    )


@pytest.mark.parametrize(("name", "codec"), CONTAINERS)
def test_random_access_returns_exactly_the_asked_frames(
    videos: dict[str, Path], name: str, codec: str
) -> None:
    info = probe_video(videos[name])
    wanted = [39, 0, 21, 5, 6, 38, 12]
    with VideoReader(videos[name], info) as reader:
        got = {i: _index(f) for i, f in reader.frames(wanted)}
        assert got == {i: i for i in wanted}
        assert _index(reader.frame(3)) == 3  # going back works too
        assert _index(reader.frame(33)) == 33


def test_sequential_range_and_conversion(videos: dict[str, Path]) -> None:
    path = videos["clip.mp4"]
    info = probe_video(path)
    with VideoReader(path, info) as reader:
        frames = list(reader.frames(range(10, 30)))
    assert [i for i, _ in frames] == list(range(10, 30))
    assert [_index(f) for _, f in frames] == list(range(10, 30))
    image = frame_to_image(frames[0][1])  # type: ignore[arg-type]
    assert image.mode == "RGB" and image.size == (96, 48)
    with VideoReader(path, info) as reader, pytest.raises(ValueError, match="frame indices"):
        list(reader.frames([40]))


def test_seeks_only_when_a_keyframe_lies_in_between(videos: dict[str, Path]) -> None:
    path = videos["clip.mp4"]
    info = probe_video(path)
    assert info.keyframes == (0, 10, 20, 30)
    seeks: list[int] = []
    with VideoReader(path, info) as reader:
        real = reader._seek

        def spy(pts: int, target: int) -> bool:
            seeks.append(target)
            return real(pts, target)

        reader._seek = spy  # type: ignore[method-assign]
        assert [_index(f) for _, f in reader.frames([1, 4, 9, 25, 27, 36])] == [1, 4, 9, 25, 27, 36]
    assert seeks == [25, 36]


def test_stream_without_timestamps_is_counted_and_read_from_the_start(tmp_path: Path) -> None:
    path = write_video(tmp_path / "raw.hevc", numbered_frames(20), codec="hevc")
    info = probe_video(path)
    assert info.n_frames == 20 and info.pts is None
    with VideoReader(path, info) as reader:
        assert [_index(f) for _, f in reader.frames([15, 2, 19])] == [2, 15, 19]
        assert _index(reader.frame(0)) == 0


def test_unreadable_files_raise_typed_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(VideoOpenError, match="InvalidDataError") as caught:
        probe_video(garbage)
    assert str(tmp_path) not in caught.value.reason  # reasons never name the file
    with pytest.raises(VideoOpenError):
        probe_video(tmp_path / "missing.mp4")


def test_frames_missing_from_the_file_are_reported_not_raised(tmp_path: Path) -> None:
    path = write_video(tmp_path / "short.mp4", numbered_frames(10))
    info = probe_video(path)
    assert info.pts is not None
    longer = VideoInfo(
        n_frames=12,
        fps=info.fps,
        time_base=info.time_base,
        width=info.width,
        height=info.height,
        codec=info.codec,
        pts=(*info.pts, info.pts[-1] + 1, info.pts[-1] + 2),
        keyframes=info.keyframes,
    )
    shifted = (*info.pts[:4], info.pts[4] + 1, *info.pts[5:])  # frame 4's timestamp is wrong
    with VideoReader(path, longer) as reader:
        results = dict(reader.frames([9, 11]))
    assert _index(results[9]) == 9
    assert isinstance(results[11], UnseekableFrameError)
    with VideoReader(path, VideoInfo(**{**vars(info), "pts": shifted})) as reader:
        results = dict(reader.frames([3, 4, 5]))
    assert isinstance(results[4], MissingFrameError)  # its timestamp never comes out
    assert (_index(results[3]), _index(results[5])) == (3, 5)
