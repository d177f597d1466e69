"""Sequences of frames, ``sequence_information.json`` and the per-video timeline."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from runner.artifacts.video_timeline import video_timeline
from runner.config import SelectionConfig
from runner.datasource.sequences import (
    build_sequences,
    check_sequence_selection,
    sequence_information,
    sequence_selection_config,
    write_sequence_information,
)
from runner.datasource.videos import frame_name
from runner.decode.video import VideoInfo
from runner.errors import ConfigError


def _info(n_frames: int, *, pts: bool = True) -> VideoInfo:
    return VideoInfo(
        n_frames=n_frames,
        fps=25.0,
        time_base=Fraction(1, 12800),
        width=64,
        height=48,
        codec="h264",
        pts=tuple(1024 + 512 * i for i in range(n_frames)) if pts else None,
        keyframes=(0,),
    )


def _keys(video: str, n_frames: int, indices: range | list[int]) -> list[str]:
    return [frame_name(video, i, n_frames) for i in indices]


def test_chunks_per_video_drop_the_partial_tail_and_average() -> None:
    keys = _keys("b.mp4", 9, range(9)) + _keys("sub/a.mp4", 7, range(7))
    rows = np.arange(len(keys) * 2, dtype=np.float32).reshape(-1, 2)  # (16, 2)
    order = np.random.default_rng(0).permutation(len(keys))  # any input order
    sequences = build_sequences([keys[i] for i in order], rows[order], length=3, normalize=False)
    assert sequences.members == [
        ("b-0-mp4.png", "b-1-mp4.png", "b-2-mp4.png"),
        ("b-3-mp4.png", "b-4-mp4.png", "b-5-mp4.png"),
        ("b-6-mp4.png", "b-7-mp4.png", "b-8-mp4.png"),
        ("sub/a-0-mp4.png", "sub/a-1-mp4.png", "sub/a-2-mp4.png"),
        ("sub/a-3-mp4.png", "sub/a-4-mp4.png", "sub/a-5-mp4.png"),
    ]
    assert sequences.keys[3] == "sub/a-0-mp4.png"
    np.testing.assert_allclose(sequences.embeddings[0], rows[:3].mean(axis=0))
    np.testing.assert_allclose(sequences.embeddings[4], rows[12:15].mean(axis=0))
    assert sequences.expand([4, 0]) == [*sequences.members[4], *sequences.members[0]]


def test_chunks_follow_the_candidate_frames_and_renormalise() -> None:
    keys = _keys("v.mp4", 100, [0, 5, 10, 15, 20, 25, 30])  # a stride of 5
    rows = np.eye(7, dtype=np.float32)
    sequences = build_sequences(keys, rows, length=2, normalize=True)
    assert sequences.members[1] == ("v-010-mp4.png", "v-015-mp4.png")
    np.testing.assert_allclose(np.linalg.norm(sequences.embeddings, axis=1), 1.0, atol=1e-6)
    assert len(build_sequences(keys, rows, length=1, normalize=True).keys) == 7
    assert build_sequences(keys[:1], rows[:1], length=2, normalize=True).embeddings.shape == (0, 7)


def test_n_samples_must_be_a_multiple_of_the_length() -> None:
    with pytest.raises(ConfigError) as caught:
        check_sequence_selection(SelectionConfig(n_samples=10), 4)
    message = str(caught.value)
    assert message == (
        "selection.n_samples=10 must be a multiple of worker.selected_sequence_length=4 "
        "(each selected sequence adds 4 frames); use 8 or 12"
    )
    assert "\n" not in message
    with pytest.raises(ConfigError, match=r"use 4$"):
        check_sequence_selection(SelectionConfig(n_samples=3), 4)
    with pytest.raises(ConfigError, match=">= 1"):
        check_sequence_selection(SelectionConfig(n_samples=3), 0)
    check_sequence_selection(SelectionConfig(n_samples=10), 1)
    check_sequence_selection(SelectionConfig(n_samples=-1), 4)
    check_sequence_selection(SelectionConfig(proportion_samples=0.3), 4)
    assert sequence_selection_config(SelectionConfig(n_samples=12), 4).n_samples == 3
    same = SelectionConfig(proportion_samples=0.5)
    assert sequence_selection_config(same, 4) is same


def test_sequence_information_in_lightly_format(tmp_path: Path) -> None:
    groups = [_keys("sub/v.mp4", 120, range(40, 43)), _keys("raw.hevc", 10, [2, 3])]
    videos = {"sub/v.mp4": _info(120), "raw.hevc": _info(10, pts=False)}
    path = tmp_path / "run" / "sequence_information.json"
    write_sequence_information(path, groups, videos)
    records = json.loads(path.read_text())
    assert records[0] == {
        "video_name": "sub/v.mp4",
        "frame_names": ["sub/v-040-mp4.png", "sub/v-041-mp4.png", "sub/v-042-mp4.png"],
        "frame_timestamps_pts": [1024 + 512 * 40, 1024 + 512 * 41, 1024 + 512 * 42],
        "frame_timestamps_sec": [21504 / 12800, 22016 / 12800, 22528 / 12800],
        "frame_indices": [40, 41, 42],
    }
    assert records[1]["frame_timestamps_pts"] == [2, 3]  # no timestamps: the index
    assert records[1]["frame_timestamps_sec"] == [2 / 25, 3 / 25]
    images = sequence_information([["seq/a.png", "seq/b.png"]], {})
    assert images == [{"filenames": ["seq/a.png", "seq/b.png"]}]
    assert not list(path.parent.glob(".*"))  # no temp file left behind


def test_image_keys_are_chunked_per_folder() -> None:
    keys = ["s1/a.png", "s1/b.png", "s1/c.png", "s2/a.png", "s2/b.png"]
    sequences = build_sequences(keys, np.ones((5, 3), np.float32), length=2, normalize=True)
    assert sequences.members == [("s1/a.png", "s1/b.png"), ("s2/a.png", "s2/b.png")]


def test_timeline_lists_every_video_with_its_selected_frames() -> None:
    videos = {"b.mp4": _info(50), "a/c.mov": _info(10, pts=False)}
    selected = [frame_name("b.mp4", 40, 50), frame_name("b.mp4", 3, 50), "image.png"]
    assert video_timeline(selected, videos) == {
        "a/c.mov": {
            "n_frames": 10,
            "fps": 25.0,
            "duration_sec": 0.36,
            "selected_frame_indices": [],
        },
        "b.mp4": {
            "n_frames": 50,
            "fps": 25.0,
            "duration_sec": 1.96,
            "selected_frame_indices": [3, 40],
        },
    }
