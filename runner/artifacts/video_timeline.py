"""Per-video sampling timeline for the report: which frames of each video were selected.

Lightly's report draws one line per selected frame along each video (its "video sampling
timeline"); this is the data behind it, JSON-ready for ``report.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from runner.datasource.videos import parse_frame_name
from runner.decode.video import VideoInfo


def video_timeline(
    selected: Sequence[str], videos: Mapping[str, VideoInfo]
) -> dict[str, dict[str, object]]:
    """The selected frame indices of every video.

    Args:
        selected: Selected keys; keys that are not frame names are ignored.
        videos: Frame table of every usable video, by video key.

    Returns:
        ``{video key: {"n_frames": int, "fps": float, "duration_sec": float,
        "selected_frame_indices": [int, ...]}}`` sorted by video key, indices ascending; every
        video in ``videos`` is listed, with no indices if none of its frames was selected.
    """
    picked: dict[str, set[int]] = {key: set() for key in videos}
    for key in selected:
        try:
            parsed = parse_frame_name(key)
        except ValueError:
            continue
        if parsed.video_key in picked:
            picked[parsed.video_key].add(parsed.index)
    timeline: dict[str, dict[str, object]] = {}
    for key in sorted(videos):
        info = videos[key]
        last = info.n_frames - 1
        duration = info.timestamp_sec(last) - info.timestamp_sec(0) if last >= 0 else 0.0
        timeline[key] = {
            "n_frames": info.n_frames,
            "fps": info.fps,
            "duration_sec": round(duration, 6),
            "selected_frame_indices": sorted(picked[key]),
        }
    return timeline
