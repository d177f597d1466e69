"""Sequence selection (``worker.selected_sequence_length`` > 1): select runs of frames.

Lightly (spec §8): each video is split into consecutive chunks of that length, the frame
embeddings are averaged per chunk, chunks are selected, and the selection is expanded back to
frames; ``sequence_information.json`` describes the selected chunks.

Decisions where Lightly's behaviour is not documented:

- Chunks are cut from the video's *candidate* frames in index order (after the optional frame
  stride / target fps, and without corrupt frames), starting at the first candidate; the last
  chunk of a video is dropped when it is shorter than the length.
- The averaged embedding is L2-normalised again when the frame embeddings were.
- A sequence is named by its first frame's key.
- Keys that are not frame names (images) are chunked per folder, in sorted order, and are
  described as ``{"filenames": [...]}`` (Lightly's image-sequence format).
- ``selection.n_samples`` counts frames and must be a multiple of the length;
  ``proportion_samples`` is applied to sequences (the same fraction of frames).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from runner.atomic import atomic_write_json
from runner.config import SelectionConfig
from runner.datasource.videos import parse_frame_name
from runner.decode.video import VideoInfo
from runner.errors import ConfigError


@dataclass(frozen=True)
class Sequences:
    """Fixed-length runs of consecutive frames and their averaged embeddings.

    Attributes:
        keys: One name per sequence (its first frame's key).
        embeddings: (S, D) float32, the mean of each sequence's frame embeddings.
        members: Frame keys of each sequence, in frame order.
    """

    keys: list[str]
    embeddings: np.ndarray
    members: list[tuple[str, ...]]

    def expand(self, indices: Sequence[int]) -> list[str]:
        """Frame keys of the sequences at ``indices`` (rows of ``embeddings``), in that order."""
        return [key for i in indices for key in self.members[i]]


def check_sequence_selection(cfg: SelectionConfig, length: int) -> None:
    """Validate ``worker.selected_sequence_length`` against ``selection.n_samples``.

    Raises:
        ConfigError: A length below 1, or ``n_samples`` not a multiple of the length.
    """
    if length < 1:
        raise ConfigError(f"worker.selected_sequence_length={length}: must be >= 1")
    n = cfg.n_samples
    if length > 1 and n is not None and n != -1 and n % length != 0:
        lower, upper = n - n % length, n - n % length + length
        hint = f"use {lower} or {upper}" if lower > 0 else f"use {upper}"
        raise ConfigError(
            f"selection.n_samples={n} must be a multiple of worker.selected_sequence_length="
            f"{length} (each selected sequence adds {length} frames); {hint}"
        )


def sequence_selection_config(cfg: SelectionConfig, length: int) -> SelectionConfig:
    """The selection config for sequences: ``n_samples`` counted in sequences.

    Raises:
        ConfigError: See :func:`check_sequence_selection`.
    """
    check_sequence_selection(cfg, length)
    if cfg.n_samples is None or cfg.n_samples == -1 or length == 1:
        return cfg
    return dataclasses.replace(cfg, n_samples=cfg.n_samples // length)


def build_sequences(
    keys: Sequence[str], embeddings: np.ndarray, *, length: int, normalize: bool
) -> Sequences:
    """Chunk frames into sequences per video and average their embeddings.

    Args:
        keys: Frame keys (Lightly frame names; image keys are grouped per folder).
        embeddings: (N, D) rows aligned with ``keys``.
        length: ``worker.selected_sequence_length`` (>= 1).
        normalize: L2-normalise the averaged rows (when the frame rows were normalised).

    Returns:
        Sequences ordered by video (or folder) and start frame.

    Raises:
        ValueError: ``length`` below 1 or rows not aligned with keys.
    """
    if length < 1:
        raise ValueError(f"sequence length must be >= 1, got {length}")
    if embeddings.ndim != 2 or embeddings.shape[0] != len(keys):
        raise ValueError(f"embeddings {embeddings.shape} do not match {len(keys)} keys")
    groups: defaultdict[str, list[tuple[int, str, int]]] = defaultdict(list)
    for row, key in enumerate(keys):
        group, position = _group_and_position(key)
        groups[group].append((position, key, row))
    names: list[str] = []
    members: list[tuple[str, ...]] = []
    rows: list[np.ndarray] = []
    for group in sorted(groups):
        ordered = sorted(groups[group])
        for start in range(0, len(ordered) - length + 1, length):
            chunk = ordered[start : start + length]
            names.append(chunk[0][1])
            members.append(tuple(item[1] for item in chunk))
            rows.append(embeddings[[item[2] for item in chunk]].mean(axis=0))  # (D,)
    dim = embeddings.shape[1]
    stacked = np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)
    if normalize and len(stacked):
        norms = np.linalg.norm(stacked, axis=1, keepdims=True)  # (S, 1)
        stacked = stacked / np.maximum(norms, np.float32(1e-12))
    return Sequences(keys=names, embeddings=stacked, members=members)


def _group_and_position(key: str) -> tuple[str, Any]:
    """(video key, frame index) for a frame name; (folder, name) for any other key."""
    try:
        parsed = parse_frame_name(key)
    except ValueError:
        return "dir:" + str(PurePosixPath(key).parent), key
    return "video:" + parsed.video_key, parsed.index


def sequence_information(
    frame_groups: Sequence[Sequence[str]], videos: Mapping[str, VideoInfo]
) -> list[dict[str, Any]]:
    """Lightly's ``sequence_information.json`` records for selected sequences.

    Args:
        frame_groups: Frame keys of each selected sequence (``Sequences.members``).
        videos: Frame table of each video, by video key.

    Returns:
        One record per sequence: ``video_name``, ``frame_names``, ``frame_timestamps_pts``
        (time-base units), ``frame_timestamps_sec``, ``frame_indices``; image sequences give
        ``{"filenames": [...]}``.
    """
    records: list[dict[str, Any]] = []
    for group in frame_groups:
        try:
            parsed = [parse_frame_name(key) for key in group]
        except ValueError:
            records.append({"filenames": list(group)})
            continue
        info = videos[parsed[0].video_key]
        records.append(
            {
                "video_name": parsed[0].video_key,
                "frame_names": list(group),
                "frame_timestamps_pts": [info.timestamp_pts(p.index) for p in parsed],
                "frame_timestamps_sec": [info.timestamp_sec(p.index) for p in parsed],
                "frame_indices": [p.index for p in parsed],
            }
        )
    return records


def write_sequence_information(
    path: Path, frame_groups: Sequence[Sequence[str]], videos: Mapping[str, VideoInfo]
) -> None:
    """Write ``sequence_information.json`` atomically (see :func:`sequence_information`)."""
    atomic_write_json(path, sequence_information(frame_groups, videos))
