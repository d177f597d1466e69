"""Nothing is written outside the Lightly datasource: ``contained`` and every writer using it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from runner.artifacts.frames import export_frames, frames_dir
from runner.artifacts.lightly_thumbnails import thumbnail_relpath, write_lightly_thumbnails
from runner.artifacts.projection import write_projection
from runner.artifacts.run_dir import RunDirectory
from runner.artifacts.write import write_lines
from runner.config import DatasourceConfig, LocalDatasourceConfig, MountsConfig
from runner.datasource import datapool
from runner.datasource.lightly_dir import Datasources, check_thumbnail_suffix
from runner.datasource.sample import Sample, SampleKind
from runner.decode.inspect import inspect_files
from runner.decode.spool import SpoolWriter
from runner.decode.uses import DecodeUses, ThumbnailTarget
from runner.embedding.cache import ShardSink, shard_folder
from runner.errors import ConfigError
from runner.report.sweep_render import render_sweep
from runner.report.thumbnails import make_thumbnails
from runner.write_paths import OutsideLightlyDatasourceError, contained
from tests.conftest import snapshot, write_images


@pytest.fixture()
def layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(input dir with 3 images, Lightly datasource, an ``outside`` folder with one file)."""
    input_dir = tmp_path / "in" / "ds"
    write_images(input_dir, ["a.png", "b.jpg", "sub/c.png"])
    lightly = tmp_path / "lm" / "ds"
    (lightly / ".lightly").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    return input_dir, lightly, outside


def _sources(tmp_path: Path) -> Datasources:
    return Datasources(
        tmp_path / "in", tmp_path / "lm", tmp_path / "in" / "ds", tmp_path / "lm" / "ds"
    )


def _samples(input_dir: Path) -> list[Sample]:
    paths = sorted(p for p in input_dir.rglob("*") if p.is_file())
    return [
        Sample(
            key=p.relative_to(input_dir).as_posix(),
            path=p,
            kind=SampleKind.IMAGE,
            size=p.stat().st_size,
            mtime_ns=p.stat().st_mtime_ns,
        )
        for p in paths
    ]


# --- the function itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "parts",
    [
        ("..",),
        ("../x.png",),
        ("a/../../x.png",),
        ("a/./x.png",),
        ("/etc/x.png",),
        ("",),
        ("a\0b.png",),
        ("ok", "../../x"),
    ],
)
def test_contained_refuses_names_that_could_leave(tmp_path: Path, parts: tuple[str, ...]) -> None:
    with pytest.raises(OutsideLightlyDatasourceError, match="refusing to write"):
        contained(tmp_path, *parts)


def test_contained_follows_symlinked_folders_and_files(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "inner").mkdir(parents=True)
    outside.mkdir()
    (root / "out_dir").symlink_to(outside)
    (root / "out_file").symlink_to(outside / "f.txt")
    (root / "in_dir").symlink_to(root / "inner")
    (root / "loop").symlink_to(root / "loop")
    for name in ("out_dir/x.txt", "out_file", "loop/x.txt"):
        with pytest.raises(OutsideLightlyDatasourceError, match="refusing to write"):
            contained(root, name)
    assert contained(root, "in_dir", "x.txt") == (root / "inner" / "x.txt").resolve()
    assert contained(root, "new/deeper/x.txt") == root.resolve() / "new/deeper/x.txt"


def test_contained_keeps_a_final_symlink_inside_unresolved(tmp_path: Path) -> None:
    (tmp_path / "run1").mkdir()
    (tmp_path / "latest").symlink_to("run1")
    assert contained(tmp_path, "latest") == tmp_path.resolve() / "latest"


# --- the config rule --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix",
    [
        "../../in/ds/good_00.png",
        "../../in/ds/[filename]_thumb.[extension]",
        "/tmp/abs/[filename].png",
        ".lightly/../../escape/[filename].png",
        "./[filename].png",
        ".lightly//[filename].png",
        "s3://bucket/[filename].png",
        ".lightly/thumbnails/thumb.png",  # no [filename]: every thumbnail the same file
        ".lightly/metadata/[filename].json",  # would overwrite the user's metadata
        ".lightly/runs/[filename].png",
        ".lightly/[filename].json",  # [filename] may be metadata/x
        ".lightly/[filename]/thumb.png",
    ],
)
def test_thumbnail_suffix_is_refused_with_the_rule(suffix: str) -> None:
    with pytest.raises(ConfigError, match=r"datasource\.thumbnail_suffix must"):
        check_thumbnail_suffix(suffix)


@pytest.mark.parametrize(
    "suffix", ["", ".lightly/thumbnails/[filename]_thumb.[extension]", "thumbs/[filename].png"]
)
def test_lightly_style_thumbnail_suffixes_pass(suffix: str) -> None:
    check_thumbnail_suffix(suffix)


def test_resolve_datasources_checks_the_suffix(layout: tuple[Path, Path, Path]) -> None:
    from runner.datasource.lightly_dir import resolve_datasources

    input_dir, lightly, _ = layout
    cfg = DatasourceConfig(
        input=LocalDatasourceConfig("ds"),
        lightly=LocalDatasourceConfig("ds"),
        thumbnail_suffix="../../in/ds/[filename]_thumb.[extension]",
    )
    mounts = MountsConfig(str(input_dir.parent), str(lightly.parent))
    with pytest.raises(ConfigError, match="thumbnail_suffix"):
        resolve_datasources(mounts, cfg)


# --- every writer -----------------------------------------------------------------------------

# Folders of the Lightly datasource a run writes, by the writer that uses them.
SYMLINKED_FOLDERS = [".lightly", ".lightly/runs", ".lightly/cache", ".lightly/cache/embeddings"]
SYMLINKED_FOLDERS += [".lightly/frames", ".lightly/datapool", ".lightly/sweeps"]
SYMLINKED_FOLDERS += [".lightly/thumbnails"]


@pytest.mark.parametrize("folder", SYMLINKED_FOLDERS)
def test_a_symlinked_folder_leading_out_is_refused_before_any_work(
    layout: tuple[Path, Path, Path], tmp_path: Path, folder: str
) -> None:
    _, lightly, outside = layout
    link = lightly / folder
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.exists():
        link.rmdir()
    link.symlink_to(outside, target_is_directory=True)
    with pytest.raises(OutsideLightlyDatasourceError, match="outside"):
        _sources(tmp_path).check_writable_folders(
            ".lightly/thumbnails/[filename]_thumb.[extension]"
        )


def _thumbnails(lightly: Path, input_dir: Path, suffix: str, key: str | None = None) -> None:
    samples = _samples(input_dir)
    if key is not None:
        samples = [Sample(key, samples[0].path, SampleKind.IMAGE, 1, 1)]
    write_lightly_thumbnails(samples, lightly_dir=lightly, suffix=suffix, num_threads=1)


def _frames(lightly: Path, input_dir: Path, key: str) -> None:
    sample = Sample(key, input_dir / "a.png", SampleKind.VIDEO_FRAME, 1, 1, frame_index=0)
    export_frames([sample], lightly_dir=lightly, videos={}, run_id="r")


# Each writer, given a hostile name or layout: (id, layout change, call).
WriterCase = tuple[str, Callable[[Path, Path], None], Callable[[Path, Path], None]]


def _link(rel: str) -> Callable[[Path, Path], None]:
    def make(lightly: Path, outside: Path) -> None:
        link = lightly / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(
            outside if not rel.endswith((".json", ".jpg", ".npz", ".txt")) else outside / "keep.txt"
        )

    return make


def _nothing(lightly: Path, outside: Path) -> None:
    del lightly, outside


def _one_shard(cache_dir: Path) -> None:
    """Commit one embedding shard of a made-up model into ``cache_dir``."""
    sink = ShardSink(shard_folder(cache_dir, "f" * 64), writer="t")
    sink.add(["00" * 32], np.zeros((1, 4), dtype=np.float32))
    sink.close()


WRITERS: list[WriterCase] = [
    ("thumbnail suffix ..", _nothing, lambda lm, i: _thumbnails(lm, i, "../x/[filename].png")),
    ("thumbnail suffix absolute", _nothing, lambda lm, i: _thumbnails(lm, i, "/x/[filename].png")),
    (
        "thumbnail [filename] with ..",
        _nothing,
        lambda lm, i: _thumbnails(lm, i, "t/[filename].png", "../../../x.png"),
    ),
    (
        "thumbnail absolute key",
        _nothing,
        lambda lm, i: _thumbnails(lm, i, "[filename].png", "/x/y.png"),
    ),
    (
        "thumbnail symlinked sub-folder",
        _link(".lightly/thumbnails/sub"),
        lambda lm, i: _thumbnails(lm, i, ".lightly/thumbnails/[filename]_thumb.[extension]"),
    ),
    ("frames symlinked folder", _link(".lightly/frames"), lambda lm, i: frames_dir(lm)),
    ("frame name with ..", _nothing, lambda lm, i: _frames(lm, i, "../../../x.png")),
    (
        "frame symlinked sub-folder",
        _link(".lightly/frames/clip"),
        lambda lm, i: _frames(lm, i, "clip/f-0-mp4.png"),
    ),
    (
        "report thumbnail symlinked file",
        _link("run/0000.jpg"),
        lambda lm, i: make_thumbnails(keys=["a.png"], input_dir=i, out_dir=lm / "run", size=32),
    ),
    (
        "projection symlinked file",
        _link("run/projection.npz"),
        lambda lm, i: write_projection(
            lm / "run", keys=["a", "b", "c"], embeddings=np.eye(3, dtype=np.float32), seed=1
        ),
    ),
    (
        "run folder symlinked runs",
        _link(".lightly/runs"),
        lambda lm, i: RunDirectory.create(_sources(lm.parent.parent).runs_dir),
    ),
    (
        "runs/latest symlinked out",
        _link(".lightly/runs/latest"),
        lambda lm, i: RunDirectory.create(lm / ".lightly/runs").finish(),
    ),
    (
        "datapool symlinked folder",
        _link(".lightly/datapool"),
        lambda lm, i: datapool.update(
            datapool.DatapoolState(),
            dot_lightly=lm / ".lightly",
            run_id="r",
            dataset_type="IMAGES",
            selected=[],
            processed=[],
            hashes={},
        ),
    ),
    (
        "inspect cache symlinked file",
        _link(".lightly/cache/inspect.json"),
        lambda lm, i: inspect_files(
            _samples(i),
            cache_file=contained(lm / ".lightly/cache", "inspect.json"),
            num_threads=1,
            check_corruptness=False,
        ),
    ),
    (
        "embedding cache symlinked folder",
        _link(".lightly/cache/embeddings"),
        lambda lm, i: _one_shard(contained(lm / ".lightly/cache", "embeddings")),
    ),
    (
        "embedding shard symlinked folder",
        _link(".lightly/cache/embeddings/ffffffffffffffff"),
        lambda lm, i: _one_shard(contained(lm / ".lightly/cache", "embeddings")),
    ),
    (
        "inspection thumbnails symlinked folder",
        _link(".lightly/thumbnails"),
        lambda lm, i: inspect_files(
            _samples(i),
            cache_file=None,
            num_threads=1,
            uses=DecodeUses(
                thumbnails=ThumbnailTarget(lm, ".lightly/thumbnails/[filename].[extension]", 32)
            ),
        ),
    ),
    (
        "model input spool symlinked folder",
        _link(".lightly/cache/spool"),
        lambda lm, i: SpoolWriter(contained(lm / ".lightly/cache", "spool"), size=4),
    ),
    (
        "sweep report symlinked file",
        _link(".lightly/sweeps/s/sweep_report.json"),
        lambda lm, i: render_sweep(lm / ".lightly/sweeps/s"),
    ),
    (
        "selected_filenames symlinked file",
        _link("run/selected_filenames.txt"),
        lambda lm, i: write_lines(contained(lm / "run", "selected_filenames.txt"), ["a.png"]),
    ),
]


@pytest.mark.parametrize(("name", "prepare", "write"), WRITERS, ids=[w[0] for w in WRITERS])
def test_every_writer_refuses_to_leave_the_lightly_datasource(
    layout: tuple[Path, Path, Path],
    name: str,
    prepare: Callable[[Path, Path], None],
    write: Callable[[Path, Path], None],
) -> None:
    input_dir, lightly, outside = layout
    prepare(lightly, outside)
    before_in, before_out = snapshot(input_dir), snapshot(outside)
    with pytest.raises((OutsideLightlyDatasourceError, ValueError), match=r"refusing|invalid"):
        write(lightly, input_dir)
    assert snapshot(outside) == before_out, name
    assert snapshot(input_dir) == before_in, name
    assert sorted(os.listdir(outside)) == ["keep.txt"]


def test_thumbnail_relpath_keeps_dotdot_for_the_door_to_refuse() -> None:
    assert thumbnail_relpath("../x.png", "t/[filename].[extension]") == "t/../x.png"


_AUDIT = r"""
import json, os, sys
events = []
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# event -> positions of the paths it writes, and of its dir_fd (None: no dir_fd argument)
WRITES = {
    "os.mkdir": ((0,), 2),
    "os.rename": ((0, 1), 2),
    "os.symlink": ((1,), 2),
    "os.remove": ((0,), 1),
    "os.rmdir": ((0,), 1),
    "os.chmod": ((0,), 2),
    "os.link": ((1,), None),
    "os.truncate": ((0,), None),
    "shutil.rmtree": ((0,), 1),
}

def hook(event, args):
    if event == "open":
        path, mode, flags = args
        if isinstance(mode, str):
            writes = any(c in mode for c in "wax+")
        else:
            writes = bool(flags & WRITE_FLAGS)
        if writes and isinstance(path, (str, bytes, os.PathLike)):
            events.append((event, os.fsdecode(path)))
    elif event in WRITES:
        positions, dir_fd = WRITES[event]
        if dir_fd is not None and len(args) > dir_fd and args[dir_fd] not in (None, -100):
            return  # relative to a folder rmtree opened; its top path was recorded
        for i in positions:
            if isinstance(args[i], (str, bytes, os.PathLike)):
                events.append((event, os.fsdecode(args[i])))

sys.addaudithook(hook)
import atexit
atexit.register(lambda: open(os.environ["AUDIT_OUT"], "w").write(json.dumps(events)))
from runner.cli import main
sys.argv = ["lightly-run", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "returncode"),
    [([], 0), (["datasource.thumbnail_suffix='../../in/ds/[filename]_thumb.[extension]'"], 2)],
    ids=["default", "hostile thumbnail_suffix"],
)
def test_a_real_run_writes_only_in_the_lightly_datasource(
    tmp_path: Path, extra: list[str], returncode: int
) -> None:
    """Every file a run opens for writing, creates, renames or deletes (Python audit events)."""
    import json
    import subprocess
    import sys

    from tests.conftest import FAST, Mounts

    mounts = Mounts(tmp_path / "in", tmp_path / "lm", "ds")
    write_images(mounts.input_dir, [f"img_{i}.png" for i in range(6)])
    mounts.lightly_dir.mkdir(parents=True)
    (tmp_path / "lm" / "other").mkdir()
    cwd, home, tmp = tmp_path / "cwd", tmp_path / "home", tmp_path / "tmp"
    for folder in (cwd, home, tmp):
        folder.mkdir()
    out = tmp_path / "audit.json"
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmp), "AUDIT_OUT": str(out)}
    args = [*mounts.overrides(), *FAST, "selection.n_samples=3", *extra]
    result = subprocess.run(
        [sys.executable, "-c", _AUDIT, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == returncode, result.stderr
    events = json.loads(out.read_text())
    paths = {Path(os.path.abspath(os.path.join(cwd, p))) for _, p in events} - {out, cwd}
    allowed = [mounts.lightly_dir.resolve(), home, tmp, Path("/dev"), Path("/proc")]
    outside = sorted(str(p) for p in paths if not any(p.is_relative_to(a) for a in allowed))
    assert outside == [], outside
    if returncode == 0:
        assert any(p.is_relative_to(mounts.lightly_dir) for p in paths)  # the hook saw the run
