"""``lightly-run`` on a folder of videos: frames selected, exported and reported end to end."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from videofix import scene_frames, write_video

from tests.conftest import FAST, Mounts, run_cli, snapshot


def test_videos_run_selects_one_frame_per_scene_and_exports_frames(tmp_path: Path) -> None:
    m = Mounts(tmp_path / "datasets", tmp_path / "lightly", "cam1")
    write_video(m.input_dir / "clips" / "walk.mp4", scene_frames())  # 32 frames, two scenes
    (m.input_dir / "notes.txt").write_text("not a video")
    m.lightly_dir.mkdir(parents=True)
    before = snapshot(m.input_mount)

    result = run_cli(
        [*m.overrides(), *FAST, "dataset.type=VIDEOS", "selection.n_samples=2"], cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert snapshot(m.input_mount) == before
    run_dir = (m.runs_dir / "latest").resolve()
    selected = (run_dir / "selected_filenames.txt").read_text().splitlines()
    assert len(selected) == 2
    indices = sorted(int(name.split("-")[-2]) for name in selected)
    assert all(name.startswith("clips/walk-") and name.endswith("-mp4.png") for name in selected)
    assert indices[0] < 16 <= indices[1], f"one frame per scene, got {indices}"
    for name in selected:
        frame = m.lightly_dir / ".lightly" / "frames" / name
        assert Image.open(frame).size == (128, 96)
    report = json.loads((run_dir / "report.json").read_text())
    assert report["counts"]["videos"] == 1
    assert report["counts"]["found"] == 32
    timeline = report["videos"]["timeline"]["clips/walk.mp4"]
    assert sorted(timeline["selected_frame_indices"]) == indices
    assert report["counts"]["skipped_by_reason"] == {"unsupported extension": 1}
    assert (run_dir / "report.pdf").is_file()
    # Every frame has a real thumbnail from the embedding pass: Lightly's for the viewer, and
    # the report's examples (selected or not) without a single "thumbnail skipped".
    assert "thumbnail skipped" not in result.stderr
    thumbs = sorted((m.lightly_dir / ".lightly" / "thumbnails" / "clips").glob("walk-*_thumb.png"))
    assert len(thumbs) == 32
    assert Image.open(thumbs[0]).size == (128, 96)  # smaller than 256: never enlarged
    shown = report["thumbnails"]
    assert any(key not in selected for key in shown), "examples include frames not selected"
    assert all((run_dir / path).is_file() for path in shown.values())


def test_video_sequences_write_sequence_information(tmp_path: Path) -> None:
    m = Mounts(tmp_path / "datasets", tmp_path / "lightly", "cam1")
    write_video(m.input_dir / "walk.mp4", scene_frames())
    m.lightly_dir.mkdir(parents=True)

    result = run_cli(
        [
            *m.overrides(),
            *FAST,
            "dataset.type=VIDEOS",
            "selection.n_samples=8",
            "worker.selected_sequence_length=4",
        ],
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    run_dir = (m.runs_dir / "latest").resolve()
    info = json.loads((run_dir / "sequence_information.json").read_text())
    assert len(info) == 2
    for sequence in info:
        assert sequence["video_name"] == "walk.mp4"
        assert len(sequence["frame_names"]) == 4
        first = sequence["frame_indices"][0]
        assert sequence["frame_indices"] == list(range(first, first + 4))
    selected = (run_dir / "selected_filenames.txt").read_text().splitlines()
    assert sorted(selected) == sorted(n for s in info for n in s["frame_names"])
