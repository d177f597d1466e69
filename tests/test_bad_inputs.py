"""The bad-input suite: every hostile input is a listed skip or a one-line error, never a crash.

Most cases share a few real runs (module fixtures): one IMAGES run whose input tree holds every
bad image, name, symlink and permission case beside good images, with bad prediction and
metadata files in the Lightly datasource and a partial run folder of a dead process; one VIDEOS
run with broken videos beside a good one. Each case then asserts, from that run's
``report.json`` and ``log.txt``, that its item is listed with its reason. Per run: exit code 0,
no traceback, every good item embedded, and the input tree byte-identical. Config mistakes are
checked in-process through ``lightly-run``'s ``main()`` (exit code 2, one line, no traceback),
a few of them also through the installed script.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runner.datasource.discover import (
    SKIP_BROKEN_SYMLINK,
    SKIP_CONTROL_CHARS,
    SKIP_DIR_SYMLINK,
    SKIP_HIDDEN,
    SKIP_IMAGE_IN_VIDEOS,
    SKIP_NOT_A_FILE,
    SKIP_NOT_READABLE,
    SKIP_NOT_UTF8,
    SKIP_SYMLINK_LOOP,
    SKIP_SYMLINK_OUTSIDE,
    SKIP_UNSUPPORTED,
    SKIP_VIDEO_IN_IMAGES,
)
from tests.conftest import (
    FAST,
    RUNS_AS_ROOT,
    Mounts,
    dead_pid,
    image_bytes,
    png_header_only,
    run_cli,
    tree_fingerprint,
    write_images,
)

# --- the cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad item: how to make it, and where the run must list it.

    Attributes:
        id: Test id.
        make: Creates the item under the input folder (or the Lightly datasource).
        listed: Where the product lists it: ``skipped:<reason>``, ``corrupt``,
            ``corrupt_video``, ``duplicate``, ``input``.
        shown: The name as listed (escaped for odd names).
        reason: A substring of the listed reason.
        root_skip: Why the case cannot hold when the tests run as root, if so.
    """

    id: str
    make: Callable[[Path], None]
    listed: str
    shown: str
    reason: str = ""
    root_skip: str = ""


def _bytes(rel: str | bytes, data: bytes) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        path = os.path.join(os.fsencode(root), os.fsencode(rel))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)

    return make


def _symlink(rel: str, target: str) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(target)

    return make


def _chmod(rel: str, data: bytes | None, mode: int) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        path = root / rel
        if data is None:
            path.mkdir(parents=True)
            (path / "inside.png").write_bytes(image_bytes(seed=99))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        path.chmod(mode)

    return make


def _fifo(rel: str) -> Callable[[Path], None]:
    return lambda root: os.mkfifo(root / rel)


PNG, JPG = image_bytes("PNG", seed=50), image_bytes("JPEG", seed=51)
ROOT_READS = "runs as root: permissions do not stop reads"


def _image_cases() -> list[Case]:
    corrupt = [
        ("zero-byte png", "bad/zero.png", b"", "UnidentifiedImageError"),
        ("zero-byte jpg", "bad/zero.jpg", b"", "UnidentifiedImageError"),
        ("truncated png", "bad/truncated.png", PNG[: len(PNG) // 2], "Error"),
        ("truncated jpg", "bad/truncated.jpg", JPG[: len(JPG) // 2], "Error"),
        ("text named jpg", "bad/text.jpg", b"hello, not an image\n", "cannot identify"),
        ("html named png", "bad/page.png", b"<html><body>hi</body></html>", "cannot identify"),
        ("random bytes png", "bad/noise.png", bytes(range(256)) * 8, "cannot identify"),
        ("garbage webp", "bad/garbage.webp", b"RIFF\x00\x00\x00\x00WEBPjunk", "Error"),
        ("garbage bmp", "bad/garbage.bmp", b"BM" + b"\x00" * 30, "Error"),
        ("garbage tiff", "bad/garbage.tiff", b"II*\x00" + b"\xff" * 20, "Error"),
        ("garbage gif", "bad/garbage.gif", b"GIF89a" + b"\x00" * 4, "Error"),
        ("garbage ppm", "bad/garbage.ppm", b"P6\n99999 99999\n255\n", "Error"),
        ("png signature only", "bad/signature.png", PNG[:8], "Error"),
        ("huge dimensions", "bad/bomb.png", png_header_only(60000, 60000), "Decompression"),
        ("png header, no pixels", "bad/no_idat.png", png_header_only(32, 32), "Error"),
    ]
    cases = [Case(i, _bytes(rel, data), "corrupt", rel, why) for i, rel, data, why in corrupt]
    cases += [
        Case(
            "video in images",
            _bytes("bad/clip.mp4", b"\x00"),
            f"skipped:{SKIP_VIDEO_IN_IMAGES}",
            "bad/clip.mp4",
        ),
        Case(
            "text file", _bytes("notes.txt", b"notes"), f"skipped:{SKIP_UNSUPPORTED}", "notes.txt"
        ),
        Case("no extension", _bytes("README", b"x"), f"skipped:{SKIP_UNSUPPORTED}", "README"),
        Case(
            "double extension", _bytes("x.png.bak", PNG), f"skipped:{SKIP_UNSUPPORTED}", "x.png.bak"
        ),
        Case("hidden file", _bytes(".hidden.png", PNG), f"skipped:{SKIP_HIDDEN}", ".hidden.png"),
        Case("hidden folder", _bytes(".cache/x.png", PNG), f"skipped:{SKIP_HIDDEN}", ".cache/"),
        Case("fifo", _fifo("pipe.png"), f"skipped:{SKIP_NOT_A_FILE}", "pipe.png"),
        Case(
            "duplicate bytes",
            _bytes("zz_dupes/copy_of_good.png", b""),
            "duplicate",
            "zz_dupes/copy_of_good.png",
        ),
    ]
    names = [
        ("not utf-8", b"names/\xff\xfe.png", "names/\\xff\\xfe.png", SKIP_NOT_UTF8),
        ("not utf-8 folder", b"names/d\xff/x.png", "names/d\\xff/", SKIP_NOT_UTF8),
        ("latin-1 name", b"names/caf\xe9.png", "names/caf\\xe9.png", SKIP_NOT_UTF8),
        ("newline", b"names/new\nline.png", "names/new\\nline.png", SKIP_CONTROL_CHARS),
        ("carriage return", b"names/cr\r.png", "names/cr\\r.png", SKIP_CONTROL_CHARS),
        ("crlf", b"names/crlf\r\n.png", "names/crlf\\r\\n.png", SKIP_CONTROL_CHARS),
        ("tab", b"names/tab\t.png", "names/tab\\t.png", SKIP_CONTROL_CHARS),
        ("escape", b"names/esc\x1b[31m.png", "names/esc\\x1b[31m.png", SKIP_CONTROL_CHARS),
        ("bell", b"names/bell\x07.png", "names/bell\\x07.png", SKIP_CONTROL_CHARS),
        ("delete", b"names/del\x7f.png", "names/del\\x7f.png", SKIP_CONTROL_CHARS),
        ("c1 control", "names/c1\x85.png".encode(), "names/c1\\x85.png", SKIP_CONTROL_CHARS),
        ("newline folder", b"names/dir\n/x.png", "names/dir\\n/", SKIP_CONTROL_CHARS),
    ]
    cases += [
        Case(i, _bytes(rel, image_bytes(seed=60 + n)), f"skipped:{why}", shown)
        for n, (i, rel, shown, why) in enumerate(names)
    ]
    cases += [
        Case(
            "symlink loop a",
            _symlink("links/a.png", "b.png"),
            f"skipped:{SKIP_SYMLINK_LOOP}",
            "links/a.png",
        ),
        Case(
            "symlink loop b",
            _symlink("links/b.png", "a.png"),
            f"skipped:{SKIP_SYMLINK_LOOP}",
            "links/b.png",
        ),
        Case(
            "self link",
            _symlink("links/self.png", "self.png"),
            f"skipped:{SKIP_SYMLINK_LOOP}",
            "links/self.png",
        ),
        Case(
            "folder self link",
            _symlink("links/loop", "loop"),
            f"skipped:{SKIP_SYMLINK_LOOP}",
            "links/loop",
        ),
        Case(
            "link outside",
            _symlink("links/out.png", "../../../outside.png"),
            f"skipped:{SKIP_SYMLINK_OUTSIDE}",
            "links/out.png",
        ),
        Case(
            "link to folder",
            _symlink("links/dir", ".."),
            f"skipped:{SKIP_DIR_SYMLINK}",
            "links/dir/",
        ),
        Case(
            "broken link",
            _symlink("links/broken.png", "missing.png"),
            f"skipped:{SKIP_BROKEN_SYMLINK}",
            "links/broken.png",
        ),
        Case(
            "link inside",
            _symlink("links/inside.png", "../good/good_00.png"),
            "duplicate",
            "links/inside.png",
        ),
        Case(
            "chmod 000 file",
            _chmod("perm/locked.png", PNG, 0),
            f"skipped:{SKIP_NOT_READABLE}",
            "perm/locked.png",
            root_skip=ROOT_READS,
        ),
        Case(
            "chmod 000 folder",
            _chmod("perm/locked_dir", None, 0),
            f"skipped:{SKIP_NOT_READABLE}",
            "perm/locked_dir/",
            root_skip=ROOT_READS,
        ),
        Case(
            "chmod 200 file",
            _chmod("perm/write_only.png", PNG, 0o200),
            f"skipped:{SKIP_NOT_READABLE}",
            "perm/write_only.png",
            root_skip=ROOT_READS,
        ),
    ]
    return cases


# Prediction (task ``det``, 96 x 96 images) and metadata files, each on one good image.
def _prediction(**fields: Any) -> bytes:
    entry = {"category_id": 0, "bbox": [2, 2, 20, 20], "score": 0.9} | fields
    return json.dumps({"predictions": [entry]}).encode()


PREDICTIONS = [
    ("prediction malformed json", b"{not json", "malformed JSON"),
    ("prediction not an object", b"[]", "expected an object with a 'predictions' list"),
    ("prediction unknown category", _prediction(category_id=7), "unknown category_id 7"),
    ("prediction score above 1", _prediction(score=1.2), "score 1.2"),
    (
        "prediction score nan",
        b'{"predictions": [{"category_id": 0, "bbox": [2, 2, 20, 20], "score": NaN}]}',
        "score",
    ),
    ("prediction bbox of 3", _prediction(bbox=[1, 2, 3]), "is not 4 non-negative numbers"),
    ("prediction bbox negative", _prediction(bbox=[-5, 2, 10, 10]), "non-negative"),
    ("prediction bbox outside", _prediction(bbox=[50, 50, 200, 200]), "outside the"),
    ("prediction bbox normalised", _prediction(bbox=[0.1, 0.2, 0.3, 0.4]), "normalised"),
    (
        "prediction for another file",
        json.dumps({"file_name": "other.png", "predictions": []}).encode(),
        "is not the sample",
    ),
]
METADATA = [
    ("metadata malformed json", b"{oops", "JSON"),
    ("metadata not an object", b'{"metadata": []}', "expected an object with a 'metadata' object"),
    ("metadata for another file", b'{"file_name": "x.png", "metadata": {}}', "is not the sample"),
    (
        "metadata wrong type",
        b'{"metadata": {"weather": {"temperature": "hot"}}}',
        "is not NUMERIC_FLOAT; default used",
    ),
]
N_GOOD = len(PREDICTIONS) + len(METADATA) + 4
GOOD = [f"good/good_{i:02d}.png" for i in range(N_GOOD)]
ODD_BUT_VALID = ["names/ünïcødé.png", "names/with space.png", "names/#hash%.png", "names/-dash.png"]


def _odd_images() -> dict[str, Any]:
    """Valid images in unusual modes and shapes: each must be embedded like any other."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(5)
    gray16 = (rng.random((40, 50)) * 65535).astype(np.uint16)
    return {
        "odd/gray16.png": Image.fromarray(gray16),
        "odd/float32.tiff": Image.fromarray(gray16.astype(np.float32) / 65535),
        "odd/int32.tiff": Image.fromarray(gray16.astype(np.int32)),
        "odd/cmyk.jpg": Image.fromarray(rng.integers(0, 255, (40, 40, 3), np.uint8)).convert(
            "CMYK"
        ),
        "odd/palette.png": Image.fromarray(rng.integers(0, 255, (30, 30, 3), np.uint8)).convert(
            "P"
        ),
        "odd/gray_alpha.png": Image.fromarray(rng.integers(0, 255, (30, 30, 2), np.uint8), "LA"),
        "odd/bilevel.png": Image.fromarray(rng.integers(0, 255, (30, 30), np.uint8)).convert("1"),
        "odd/rgba.webp": Image.fromarray(rng.integers(0, 255, (30, 30, 4), np.uint8), "RGBA"),
        "odd/one_pixel.png": Image.new("RGB", (1, 1), (200, 10, 10)),
        "odd/very_wide.png": Image.fromarray(rng.integers(0, 255, (2, 3000, 3), np.uint8)),
        "odd/upper_case.PNG": Image.fromarray(rng.integers(0, 255, (30, 30, 3), np.uint8)),
        "odd/png_named.jpg": Image.fromarray(rng.integers(0, 255, (30, 30, 3), np.uint8)),
    }


ODD_IMAGES = list(_odd_images())

STRATEGIES = (
    "selection.strategies=[{input:{type:EMBEDDINGS},strategy:{type:DIVERSITY}},"
    "{input:{type:SCORES,task:det,score:object_frequency},strategy:{type:WEIGHTS}},"
    "{input:{type:METADATA,key:weather.temperature},strategy:{type:WEIGHTS}}]"
)


def _lightly_inputs(dot_lightly: Path) -> None:
    """Good and bad prediction and metadata files for the good images."""
    det = dot_lightly / "predictions" / "det"
    det.mkdir(parents=True)
    (dot_lightly / "predictions" / "tasks.json").write_text('["det"]')
    schema = {
        "task_type": "object-detection",
        "categories": [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}],
    }
    (det / "schema.json").write_text(json.dumps(schema))
    meta = dot_lightly / "metadata"
    meta.mkdir()
    field_spec = {"name": "temperature", "path": "weather.temperature", "defaultValue": 20.0}
    (meta / "schema.json").write_text(json.dumps([field_spec | {"valueDataType": "NUMERIC_FLOAT"}]))
    for i, key in enumerate(GOOD):
        stem = key.removesuffix(".png") + ".json"
        (det / stem).parent.mkdir(parents=True, exist_ok=True)
        (meta / stem).parent.mkdir(parents=True, exist_ok=True)
        (det / stem).write_bytes(PREDICTIONS[i][1] if i < len(PREDICTIONS) else _prediction())
        j = i - len(PREDICTIONS)
        good_meta = json.dumps({"metadata": {"weather": {"temperature": 10.0 + i}}}).encode()
        (meta / stem).write_bytes(METADATA[j][1] if 0 <= j < len(METADATA) else good_meta)


@dataclass
class Outcome:
    """One real run over a hostile tree."""

    returncode: int
    stderr: str
    report: dict[str, Any]
    log: str
    embedded: list[str]
    before: dict[bytes, tuple[object, ...]]
    after: dict[bytes, tuple[object, ...]]
    extra: dict[str, Any] = field(default_factory=dict)


def _run(mounts: Mounts, args: list[str], cwd: Path) -> Outcome:
    before = tree_fingerprint(mounts.input_mount)
    result = run_cli([*mounts.overrides(), *FAST, *args], cwd=cwd)
    after = tree_fingerprint(mounts.input_mount)
    latest = mounts.runs_dir / "latest"
    report = json.loads((latest / "report.json").read_text()) if latest.exists() else {}
    log = (latest / "log.txt").read_text() if latest.exists() else ""
    rows = list(csv.reader((latest / "embeddings.csv").open())) if latest.exists() else [[]]
    embedded = [row[0] for row in rows[1:]]
    return Outcome(result.returncode, result.stderr, report, log, embedded, before, after)


@pytest.fixture(scope="module")
def images_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    """One IMAGES run over every image, name, symlink and permission case."""
    base = tmp_path_factory.mktemp("bad_images")
    mounts = Mounts(base / "in", base / "lm", "ds")
    (base / "outside.png").write_bytes(image_bytes(seed=98))
    write_images(mounts.input_dir, GOOD + ODD_BUT_VALID, seed=3)
    for name, image in _odd_images().items():
        (mounts.input_dir / name).parent.mkdir(parents=True, exist_ok=True)
        image.save(mounts.input_dir / name, format="PNG" if "png" in name.lower() else None)
    for case in _image_cases():
        if not (case.root_skip and RUNS_AS_ROOT):
            case.make(mounts.input_dir)
    dupe = mounts.input_dir / "zz_dupes" / "copy_of_good.png"
    dupe.write_bytes((mounts.input_dir / GOOD[0]).read_bytes())
    _lightly_inputs(mounts.lightly_dir / ".lightly")
    stale = mounts.runs_dir / ".20260101-000000-dead00.partial"
    stale.mkdir(parents=True)
    (stale / ".owner.json").write_text(
        json.dumps({"pid": dead_pid(), "hostname": os.uname().nodename})
    )
    outcome = _run(
        mounts,
        [
            "selection.n_samples=6",
            STRATEGIES,
            "selection.lightly_path_regex=.*",
            "worker.num_threads=4",
        ],
        cwd=base,
    )
    outcome.extra["stale_gone"] = not stale.exists()
    yield outcome
    for path in (mounts.input_dir / "perm").glob("*"):
        path.chmod(0o700)


def _listed(outcome: Outcome, case: Case) -> str | None:
    """The reason the run gives for ``case``'s item, or None if it is not listed."""
    samples = outcome.report["samples"]
    if case.listed.startswith("skipped:"):
        reason = case.listed.split(":", 1)[1]
        found = case.shown in samples["skipped"].get(reason, [])
        return reason if found else None
    if case.listed == "corrupt":
        return samples["corrupt"].get(case.shown)
    if case.listed == "corrupt_video":
        prefix = _frame_prefix(case.shown)
        frames = [r for k, r in samples["corrupt"].items() if k.startswith(prefix)]
        return samples["corrupt_videos"].get(case.shown) or (frames[0] if frames else None)
    if case.listed == "duplicate":
        return "duplicate" if case.shown in samples["duplicates"] else None
    raise AssertionError(case.listed)


def _frame_prefix(video: str) -> str:
    """Frame keys of a video start with its path without extension and a dash."""
    return Path(video).with_suffix("").as_posix() + "-"


IMAGE_CASES = _image_cases()


@pytest.mark.slow
@pytest.mark.parametrize("case", IMAGE_CASES, ids=[c.id for c in IMAGE_CASES])
def test_bad_image_item_is_listed_with_its_reason(images_run: Outcome, case: Case) -> None:
    if case.root_skip and RUNS_AS_ROOT:
        pytest.skip(case.root_skip)
    assert images_run.returncode == 0, images_run.stderr
    reason = _listed(images_run, case)
    assert reason is not None, f"{case.shown!r} not listed as {case.listed}"
    assert case.reason in reason
    assert case.shown not in images_run.embedded
    if case.listed.startswith("skipped:"):
        line = next(x for x in images_run.log.splitlines() if f"({case.listed[8:]})" in x)
        assert case.shown in line


def _input_source(outcome: Outcome, kind: str) -> dict[str, Any]:
    sources = outcome.report["inputs"]["sources"]
    return next(s for s in sources if s["source"].startswith(kind))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("index", "name", "reason"),
    [(i, n, r) for i, (n, _, r) in enumerate(PREDICTIONS)],
    ids=[p[0] for p in PREDICTIONS],
)
def test_bad_prediction_file_is_listed_with_its_reason(
    images_run: Outcome, index: int, name: str, reason: str
) -> None:
    source = _input_source(images_run, "SCORES")
    wanted = GOOD[index].removesuffix(".png") + ".json"
    listed = {s["file"]: s["reason"] for s in source["skipped"]}
    match = [r for f, r in listed.items() if f.endswith(wanted)]
    assert match and reason in match[0], (name, listed)
    assert GOOD[index] in images_run.embedded  # the image itself is still a sample


@pytest.mark.slow
@pytest.mark.parametrize(
    ("index", "name", "reason"),
    [(i, n, r) for i, (n, _, r) in enumerate(METADATA)],
    ids=[m[0] for m in METADATA],
)
def test_bad_metadata_file_is_listed_with_its_reason(
    images_run: Outcome, index: int, name: str, reason: str
) -> None:
    source = _input_source(images_run, "METADATA")
    wanted = GOOD[len(PREDICTIONS) + index].removesuffix(".png") + ".json"
    listed = [(s["file"], s["reason"]) for s in source["skipped"]]
    listed += [tuple(x) for x in source.get("notes", []) if isinstance(x, list)]
    text = json.dumps(source)
    assert wanted in text and reason in text, (name, source)
    assert GOOD[len(PREDICTIONS) + index] in images_run.embedded


@pytest.mark.slow
@pytest.mark.parametrize("key", GOOD + ODD_BUT_VALID + ODD_IMAGES)
def test_good_items_beside_bad_ones_are_embedded(images_run: Outcome, key: str) -> None:
    assert key in images_run.embedded


@pytest.mark.slow
def test_images_run_is_clean_and_leaves_the_input_untouched(images_run: Outcome) -> None:
    assert images_run.returncode == 0, images_run.stderr
    assert "Traceback" not in images_run.stderr + images_run.log
    assert images_run.after == images_run.before
    assert images_run.report["counts"]["selected"] == 6
    assert images_run.extra["stale_gone"], "partial folder of a dead run was not removed"


@pytest.mark.slow
@pytest.mark.parametrize("key", ["selection.lightly_path_regex", "worker.num_threads"])
def test_accepted_keys_without_effect_are_listed(images_run: Outcome, key: str) -> None:
    assert key in images_run.report["config_no_effect"]
    assert f"{key}: accepted, no effect" in images_run.stderr + images_run.log


# --- videos -----------------------------------------------------------------------------------


def _video_bytes() -> bytes:
    import tempfile

    from tests.videos.videofix import numbered_frames, write_video

    with tempfile.TemporaryDirectory() as tmp:
        return write_video(Path(tmp) / "v.mp4", numbered_frames(8)).read_bytes()


def _video_cases() -> list[Case]:
    good = _video_bytes()
    corrupt = [
        ("zero-byte mp4", "bad/zero.mp4", b""),
        ("text named mp4", "bad/text.mp4", b"not a video at all\n"),
        ("truncated mp4", "bad/truncated.mp4", good[: len(good) // 3]),
        ("mp4 header only", "bad/header.mp4", good[:64]),
        ("random bytes avi", "bad/noise.avi", bytes(range(256)) * 16),
        ("pdf named mov", "bad/document.mov", b"%PDF-1.4\n%%EOF\n"),
        ("html named webm", "bad/page.webm", b"<html></html>"),
    ]
    cases = [Case(i, _bytes(rel, data), "corrupt_video", rel) for i, rel, data in corrupt]
    cases += [
        Case(
            "image in videos",
            _bytes("still.png", image_bytes(seed=8)),
            f"skipped:{SKIP_IMAGE_IN_VIDEOS}",
            "still.png",
        ),
        Case(
            "subtitle file", _bytes("movie.srt", b"1\n"), f"skipped:{SKIP_UNSUPPORTED}", "movie.srt"
        ),
        Case(
            "video name with newline",
            _bytes(b"bad/new\nline.mp4", good),
            f"skipped:{SKIP_CONTROL_CHARS}",
            "bad/new\\nline.mp4",
        ),
        Case(
            "video name not utf-8",
            _bytes(b"bad/\xff.mp4", good),
            f"skipped:{SKIP_NOT_UTF8}",
            "bad/\\xff.mp4",
        ),
        Case(
            "video symlink loop",
            _symlink("bad/loop.mp4", "loop.mp4"),
            f"skipped:{SKIP_SYMLINK_LOOP}",
            "bad/loop.mp4",
        ),
    ]
    return cases


VIDEO_CASES = _video_cases()


@pytest.fixture(scope="module")
def videos_run(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """One VIDEOS run over broken videos beside one good 8-frame video."""
    base = tmp_path_factory.mktemp("bad_videos")
    mounts = Mounts(base / "in", base / "lm", "ds")
    (mounts.input_dir / "good").mkdir(parents=True)
    (mounts.input_dir / "good" / "walk.mp4").write_bytes(_video_bytes())
    mounts.lightly_dir.mkdir(parents=True)
    for case in VIDEO_CASES:
        case.make(mounts.input_dir)
    return _run(mounts, ["dataset.type=VIDEOS", "selection.n_samples=3"], cwd=base)


@pytest.mark.slow
@pytest.mark.parametrize("case", VIDEO_CASES, ids=[c.id for c in VIDEO_CASES])
def test_bad_video_item_is_listed_with_its_reason(videos_run: Outcome, case: Case) -> None:
    assert videos_run.returncode == 0, videos_run.stderr
    reason = _listed(videos_run, case)
    assert reason is not None, f"{case.shown!r} not listed as {case.listed}"
    assert case.reason in reason
    assert not any(key.startswith(_frame_prefix(case.shown)) for key in videos_run.embedded)


@pytest.mark.slow
def test_videos_run_is_clean_and_leaves_the_input_untouched(videos_run: Outcome) -> None:
    assert videos_run.returncode == 0, videos_run.stderr
    assert "Traceback" not in videos_run.stderr + videos_run.log
    assert videos_run.after == videos_run.before
    assert len([k for k in videos_run.embedded if k.startswith("good/walk-")]) == 8
    assert videos_run.report["counts"]["selected"] == 3


# --- configs ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config_mounts(tmp_path_factory: pytest.TempPathFactory) -> Mounts:
    """Three images, an empty Lightly datasource with a bad checkpoint and a symlinked folder."""
    base = tmp_path_factory.mktemp("bad_configs")
    mounts = Mounts(base / "in", base / "lm", "ds")
    write_images(mounts.input_dir, ["a.png", "b.png", "c.png"])
    mounts.lightly_dir.mkdir(parents=True)
    (mounts.lightly_dir / "garbage.ckpt").write_bytes(b"not a checkpoint")
    (base / "other" / "ds").mkdir(parents=True)
    (base / "outside").mkdir()
    (base / "lm" / "escape").mkdir()
    (base / "lm" / "escape" / ".lightly").symlink_to(base / "outside")
    return mounts


DATASOURCE_SUFFIX = "datasource.thumbnail_suffix"
# (id, overrides, substring of the one error line)
CONFIGS: list[tuple[str, list[str], str]] = [
    (
        "n_example_images negative",
        ["report.n_example_images=-1"],
        "report.n_example_images must be >= 0",
    ),
    ("n_example_images not a number", ["report.n_example_images=abc"], "n_example_images"),
    (
        "lightly_path_regex invalid",
        ["selection.lightly_path_regex='('"],
        "not a valid regular expression",
    ),
    (
        "lightly_path_regex unbalanced bracket",
        ["selection.lightly_path_regex='[a-'"],
        "not a valid regular expression",
    ),
    ("thumbnail_size zero", ["report.thumbnail_size=0"], "report.thumbnail_size must be between"),
    (
        "thumbnail_size huge",
        ["report.thumbnail_size=100000"],
        "report.thumbnail_size must be between",
    ),
    (
        "sequence length zero",
        ["worker.selected_sequence_length=0"],
        "selected_sequence_length=0: must be >= 1",
    ),
    ("num_threads below -1", ["worker.num_threads=-5"], "worker.num_threads must be >= -1"),
    ("num_processes below -1", ["worker.num_processes=-2"], "worker.num_processes must be >= -1"),
    (
        "output_image_format unknown",
        ["worker.output_image_format=gif"],
        "worker.output_image_format",
    ),
    ("gpus negative", ["lightly.trainer.gpus=-1"], "lightly.trainer.gpus must be >= 0"),
    (
        "max_epochs negative",
        ["lightly.trainer.max_epochs=-1"],
        "lightly.trainer.max_epochs must be >= 0",
    ),
    (
        "thumbnail suffix dotdot",
        [f"{DATASOURCE_SUFFIX}='../../in/ds/[filename]_thumb.[extension]'"],
        "thumbnail_suffix must be a path relative",
    ),
    (
        "thumbnail suffix onto an input",
        [f"{DATASOURCE_SUFFIX}='../../in/ds/a.png'"],
        "thumbnail_suffix must be a path relative",
    ),
    (
        "thumbnail suffix absolute",
        [f"{DATASOURCE_SUFFIX}='/tmp/x/[filename].png'"],
        "thumbnail_suffix must be a path relative",
    ),
    (
        "thumbnail suffix without filename",
        [f"{DATASOURCE_SUFFIX}='.lightly/t/thumb.png'"],
        "contains [filename]",
    ),
    (
        "thumbnail suffix into metadata",
        [f"{DATASOURCE_SUFFIX}='.lightly/metadata/[filename].json'"],
        "must name its own folder under .lightly/",
    ),
    (
        "thumbnail suffix url",
        [f"{DATASOURCE_SUFFIX}='s3://b/[filename].png'"],
        "thumbnail_suffix must be a path relative",
    ),
    ("n_samples zero", ["selection.n_samples=0"], "selection.n_samples must be >= 1"),
    ("n_samples below -1", ["selection.n_samples=-2"], "selection.n_samples must be >= 1"),
    ("n_samples not a number", ["selection.n_samples=abc"], "n_samples"),
    (
        "proportion above 1",
        ["selection.n_samples=null", "selection.proportion_samples=1.5"],
        "proportion_samples must be in (0, 1]",
    ),
    ("n_samples and proportion", ["selection.proportion_samples=0.5"], "proportion_samples"),
    ("batch size zero", ["lightly.loader.batch_size=0"], "lightly.loader.batch_size must be >= 1"),
    (
        "num_workers below -1",
        ["lightly.loader.num_workers=-3"],
        "lightly.loader.num_workers must be >= -1",
    ),
    (
        "input size tiny",
        ["lightly.collate.input_size=8"],
        "lightly.collate.input_size must be between",
    ),
    ("precision unknown", ["lightly.trainer.precision=64"], "lightly.trainer.precision"),
    ("devices zero", ["lightly.trainer.devices=0"], "lightly.trainer.devices=0"),
    ("num_nodes zero", ["lightly.trainer.num_nodes=0"], "lightly.trainer.num_nodes=0"),
    ("trainer strategy unknown", ["lightly.trainer.strategy=fsdp"], "lightly.trainer.strategy"),
    (
        "corruption threshold above 1",
        ["worker.corruptness_check.corruption_threshold=2"],
        "corruption_threshold must be in [0, 1]",
    ),
    ("unknown key", ["worker.enable_trainin=true"], "did you mean"),
    ("unknown model", ["lightly.model.name=resnet-99"], "resnet-99"),
    ("unknown dataset type", ["dataset.type=AUDIO"], "AUDIO"),
    (
        "unknown strategy",
        ["selection.strategies=[{input:{type:EMBEDDINGS},strategy:{type:DIVERSTY}}]"],
        "DIVERSTY",
    ),
    ("no strategies", ["selection.strategies=[]"], "selection.strategies is empty"),
    ("frame stride zero", ["worker.video.frame_stride=0"], "frame_stride"),
    ("checkpoint missing", ["worker.checkpoint=missing.ckpt"], "worker.checkpoint not found"),
    (
        "relevant filenames outside .lightly",
        ["worker.relevant_filenames_file=../x.txt"],
        "relevant_filenames_file",
    ),
    (
        "web server location ftp",
        ["datasource.web_server_location=ftp://x"],
        "must start with http://",
    ),
    (
        "input relative path dotdot",
        ["datasource.input.relative_path=../x"],
        "must not contain '.' or '..'",
    ),
    ("lightly relative path absolute", ["datasource.lightly.relative_path=/abs"], "absolute path"),
    ("input mount relative", ["mounts.input_mount=relative/path"], "must be an absolute path"),
    ("input mount missing", ["mounts.input_mount=/nonexistent/mount"], "does not exist"),
    (
        "lightly datasource inside input",
        ["mounts.lightly_mount=INPUT_MOUNT"],
        "inside the input mount",
    ),
    (".lightly symlinked outside", ["datasource.lightly.relative_path=escape"], "outside"),
    (
        "accelerator unknown",
        ["lightly.trainer.accelerator=tpu"],
        "lightly.trainer.accelerator='tpu'",
    ),
    (
        "template_dir missing",
        ["report.template_dir=/nonexistent/templates"],
        "report.template_dir is not a folder",
    ),
    ("seed not an integer", ["lightly.seed=1.5"], "seed"),
]


def _config_args(mounts: Mounts, overrides: list[str]) -> list[str]:
    args = [*mounts.overrides(), "selection.n_samples=2", *FAST]
    for override in overrides:
        key = override.split("=", 1)[0]
        args = [a for a in args if a.split("=", 1)[0] != key]
        args.append(override.replace("INPUT_MOUNT", str(mounts.input_mount)))
    return args


@pytest.mark.parametrize(("name", "overrides", "message"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_bad_config_is_one_line_and_exit_2(
    config_mounts: Mounts,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    overrides: list[str],
    message: str,
) -> None:
    from runner import cli

    before = tree_fingerprint(config_mounts.input_mount.parent)
    monkeypatch.setattr(sys, "argv", ["lightly-run", *_config_args(config_mounts, overrides)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, (name, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lightly-run: error: "), err
    assert message in lines[0], lines[0]
    assert "Traceback" not in err
    assert tree_fingerprint(config_mounts.input_mount.parent) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    "override", ["report.n_example_images=-1", "selection.lightly_path_regex='('"]
)
def test_installed_script_refuses_meaningless_values_in_one_line(
    config_mounts: Mounts, tmp_path: Path, override: str
) -> None:
    result = run_cli(_config_args(config_mounts, [override]), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_sweep_dir_outside_the_lightly_datasource_is_refused_before_hydra_makes_it(
    config_mounts: Mounts,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from runner import cli

    outside = tmp_path / "elsewhere"
    args = [*_config_args(config_mounts, []), f"hydra.sweep.dir={outside}", "lightly.seed=1,2"]
    monkeypatch.setattr(sys, "argv", ["lightly-run", "-m", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1, err
    assert "hydra.sweep.dir" in err and "not inside the Lightly datasource" in err
    assert not outside.exists()
