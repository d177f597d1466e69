"""Discovery: the sorted list of samples in the input datasource, and why other files were skipped.

Discovery only lists and stats; it never opens images or videos and never writes anything.
Keys are POSIX paths relative to the input directory, as Lightly names samples, and the result
is sorted by key so that every later stage is deterministic.

For a ``VIDEOS`` dataset discovery lists the video files (``Discovery.videos``); their frames
become samples once each video's frames are known
(:func:`runner.datasource.video_samples.frame_samples`).
"""

from __future__ import annotations

import errno
import os
import stat
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from runner.config import DatasetType
from runner.datasource.relevant import RelevantFilenames, load_relevant_filenames
from runner.datasource.sample import Sample, SampleKind
from runner.datasource.videos import VideoFile
from runner.errors import ConfigError, DataError

# Lightly OSS image loader's list plus .gif (named in the Worker docs); compared lower-case.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif"}
)
# The Worker's exhaustive video list (spec 1.6); compared lower-case.
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".m4v", ".hevc", ".mpg", ".mpeg", ".avi", ".mov", ".webm"}
)

# Skip reasons, as they appear in the stats (keys of ``Discovery.skipped``).
SKIP_HIDDEN = "hidden"
SKIP_UNSUPPORTED = "unsupported extension"
SKIP_VIDEO_IN_IMAGES = "video file in an IMAGES dataset"
SKIP_IMAGE_IN_VIDEOS = "image file in a VIDEOS dataset"
SKIP_SYMLINK_OUTSIDE = "symlink outside the input datasource"
SKIP_DIR_SYMLINK = "directory symlink not followed"
SKIP_NOT_READABLE = "not readable"
SKIP_NOT_A_FILE = "not a regular file"
SKIP_NOT_RELEVANT = "not in relevant_filenames_file"
SKIP_NOT_FOUND = "listed in relevant_filenames_file but not found"
SKIP_SYMLINK_LOOP = "symlink loop"
SKIP_BROKEN_SYMLINK = "broken symlink"
SKIP_NOT_UTF8 = "file name is not valid UTF-8"
SKIP_CONTROL_CHARS = "control character in file name"


@dataclass(frozen=True)
class Discovery:
    """What discovery found.

    Attributes:
        samples: Images to process, sorted by key (empty for a ``VIDEOS`` dataset).
        skipped: Skip reason -> sorted relative POSIX paths (directories end with ``/``).
        videos: Videos to process, sorted by key (``VIDEOS`` datasets only).
    """

    samples: list[Sample]
    skipped: dict[str, list[str]]
    videos: list[VideoFile] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        """Number of skipped entries over all reasons."""
        return sum(len(paths) for paths in self.skipped.values())

    def skip_lines(self, *, limit: int = 20) -> list[str]:
        """One log line per skip reason: the count and the first ``limit`` paths."""
        lines = []
        for reason, paths in self.skipped.items():
            more = (
                f" (+{len(paths) - limit} more, all in report.json)" if len(paths) > limit else ""
            )
            lines.append(f"skipped {len(paths)} ({reason}): {', '.join(paths[:limit])}{more}")
        return lines


def discover(
    input_dir: Path,
    *,
    relevant_filenames_file: Path | None = None,
    dataset_type: DatasetType = DatasetType.IMAGES,
) -> Discovery:
    """List the samples of an input datasource, recursively and deterministically.

    Hidden entries (name starting with ``.``, such as a shared ``.lightly/``) are skipped
    without descending; directory symlinks are not followed (no loops); file symlinks are
    followed only when their target lies inside ``input_dir``.

    Args:
        input_dir: Root of the input datasource.
        relevant_filenames_file: Optional Lightly ``relevant_filenames_file``; only files it
            matches become samples (for videos: the video paths).
        dataset_type: What the datasource holds: images (``.jpg``, ...) or videos (``.mp4
            .m4v .hevc .mpg .mpeg .avi .mov .webm``, any case); files of the other kind are
            skipped with a reason.

    Returns:
        The images (or videos) sorted by key, and every skipped path grouped by reason.

    Raises:
        ConfigError: ``dataset_type`` is unknown, or the relevant-filenames file is invalid.
        DataError: ``input_dir`` is not a readable directory.
    """
    if dataset_type not in (DatasetType.IMAGES, DatasetType.VIDEOS):
        raise ConfigError(f"dataset type {dataset_type} is not supported; use IMAGES or VIDEOS")
    root = _checked_root(input_dir)
    relevant = (
        load_relevant_filenames(relevant_filenames_file)
        if relevant_filenames_file is not None
        else None
    )
    skipped: defaultdict[str, list[str]] = defaultdict(list)
    candidates = _walk(root, skipped)
    samples: list[Sample] = []
    videos: list[VideoFile] = []
    for rel in candidates:
        outcome = _classify(root, rel, relevant, dataset_type)
        if isinstance(outcome, Sample):
            samples.append(outcome)
        elif isinstance(outcome, VideoFile):
            videos.append(outcome)
        else:
            skipped[outcome].append(rel)
    if relevant is not None:
        found = set(candidates)
        for rel in relevant.exact_paths:
            if rel not in found and not (root / rel).is_file():
                skipped[SKIP_NOT_FOUND].append(rel)
    samples.sort(key=lambda sample: sample.key)
    videos.sort(key=lambda video: video.key)
    return Discovery(
        samples=samples,
        skipped={reason: sorted(paths) for reason, paths in sorted(skipped.items())},
        videos=videos,
    )


def _checked_root(input_dir: Path) -> Path:
    """Resolve the input directory, requiring a directory.

    Raises:
        DataError: It does not exist or is not a directory.
    """
    root = input_dir.resolve()
    if not root.is_dir():
        raise DataError(f"input directory does not exist or is not a directory: {input_dir}")
    return root


def _walk(root: Path, skipped: defaultdict[str, list[str]]) -> list[str]:
    """Relative POSIX paths of the non-hidden file-like entries under ``root``.

    Hidden entries, directory symlinks, unreadable directories and special files are recorded
    in ``skipped`` instead. Symlinks to files and broken symlinks are returned: classification
    decides about them.

    Raises:
        DataError: ``root`` itself cannot be listed.
    """
    files: list[str] = []
    pending = [""]  # relative directory prefixes: "" or "a/b/"
    while pending:
        rel_dir = pending.pop()
        try:
            with os.scandir(root / rel_dir) as iterator:
                entries = list(iterator)
        except OSError as exc:
            if not rel_dir:
                raise DataError(f"cannot list input directory {root}: {exc}") from exc
            skipped[SKIP_NOT_READABLE].append(rel_dir)
            continue
        for entry in entries:
            rel = rel_dir + entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            shown = rel + "/" if is_dir else rel
            bad_name = name_problem(entry.name)
            if bad_name:
                skipped[bad_name].append(printable_name(shown))
            elif entry.name.startswith("."):
                skipped[SKIP_HIDDEN].append(shown)
            elif is_dir:
                pending.append(shown)
            elif entry.is_symlink():
                _symlink_entry(entry, rel, files, skipped)
            elif entry.is_file(follow_symlinks=False):
                files.append(rel)
            else:
                skipped[SKIP_NOT_A_FILE].append(rel)
    return files


def _symlink_entry(
    entry: os.DirEntry[str], rel: str, files: list[str], skipped: defaultdict[str, list[str]]
) -> None:
    """A directory symlink is skipped, a loop is skipped, a file symlink is a candidate."""
    try:
        points_to_dir = entry.is_dir()
    except OSError as exc:  # ELOOP: a -> b -> a, or a link to itself
        if exc.errno == errno.ELOOP:
            skipped[SKIP_SYMLINK_LOOP].append(rel)
        else:
            skipped[SKIP_NOT_READABLE].append(rel)
        return
    if points_to_dir:
        skipped[SKIP_DIR_SYMLINK].append(rel + "/")
    else:
        files.append(rel)


def name_problem(name: str) -> str | None:
    """Why a file or folder name cannot become a sample key, or None if it can.

    Keys are written one per line (``selected_filenames.txt``), into CSV and JSON, and are
    served as URLs: they must be valid UTF-8 (``os.scandir`` gives undecodable bytes as lone
    surrogates) and hold no control characters (newline, carriage return, tab, escape, ...).
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return SKIP_NOT_UTF8
    if any(unicodedata.category(char) == "Cc" for char in name):
        return SKIP_CONTROL_CHARS
    return None


def printable_name(name: str) -> str:
    """``name`` for lists and logs: undecodable bytes as ``\\xNN``, control characters escaped.

    Display only: a name that really contains a backslash sequence looks the same.
    """
    raw = os.fsencode(name).decode("utf-8", errors="backslashreplace")
    out = []
    for char in raw:
        if unicodedata.category(char) == "Cc":
            # every Cc character is below U+0100
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{ord(char):02x}"))
        else:
            out.append(char)
    return "".join(out)


def _classify(
    root: Path, rel: str, relevant: RelevantFilenames | None, dataset_type: DatasetType
) -> Sample | VideoFile | str:
    """Turn one candidate file into a sample (or video), or give the reason to skip it."""
    if relevant is not None and not relevant.matches(rel):
        return SKIP_NOT_RELEVANT
    extension = PurePosixPath(rel).suffix.lower()
    wanted, other = (
        (VIDEO_EXTENSIONS, IMAGE_EXTENSIONS)
        if dataset_type is DatasetType.VIDEOS
        else (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS)
    )
    if extension in other:
        return SKIP_IMAGE_IN_VIDEOS if dataset_type is DatasetType.VIDEOS else SKIP_VIDEO_IN_IMAGES
    if extension not in wanted:
        return SKIP_UNSUPPORTED
    path = root / rel
    if path.is_symlink():
        try:
            target = path.resolve()
        except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
            return SKIP_SYMLINK_LOOP
        if not target.is_relative_to(root):
            return SKIP_SYMLINK_OUTSIDE
        if not target.exists():
            return SKIP_BROKEN_SYMLINK
    try:
        status = path.stat()  # follows a file symlink: identity of the bytes we will read
    except OSError as exc:
        return SKIP_SYMLINK_LOOP if exc.errno == errno.ELOOP else SKIP_NOT_READABLE
    if not stat.S_ISREG(status.st_mode):
        return SKIP_NOT_A_FILE
    if not os.access(path, os.R_OK):
        return SKIP_NOT_READABLE
    if dataset_type is DatasetType.VIDEOS:
        return VideoFile(key=rel, path=path, size=status.st_size, mtime_ns=status.st_mtime_ns)
    return Sample(
        key=rel,
        path=path,
        kind=SampleKind.IMAGE,
        size=status.st_size,
        mtime_ns=status.st_mtime_ns,
    )
