"""``lightly-run`` end to end, as a user runs it: installed script, another cwd, real images."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import (
    FAST,
    Mounts,
    make_read_only,
    make_writable,
    run_cli,
    snapshot,
    write_images,
)

STAGES = ("start-up", "discover", "inspect", "embed", "select", "thumbnails", "artifacts", "report")


def latest_run(mounts: Mounts) -> Path:
    return (mounts.runs_dir / "latest").resolve()


def test_run_writes_every_artifact_from_another_cwd(mounts: Mounts, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_images(mounts.input_dir, ["dup_a.png"], seed=3)
    (mounts.input_dir / "dup_b.png").write_bytes((mounts.input_dir / "dup_a.png").read_bytes())
    (mounts.input_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (mounts.input_dir / "notes.txt").write_text("not an image")

    result = run_cli([*mounts.overrides(), *FAST, "selection.n_samples=5"], cwd=elsewhere)

    assert result.returncode == 0, result.stderr
    run_dir = latest_run(mounts)
    assert result.stdout.strip().splitlines()[-1] == f"run directory: {run_dir}"
    assert not any(elsewhere.iterdir()), "nothing may be written to the cwd"
    # Not a terminal: one plain line per stage, in order; the model load is announced first.
    stage_lines = [
        line.removeprefix("[lightly-run] ").split(":")[0]
        for line in result.stderr.splitlines()
        if " in " in line and line.split(":")[0].endswith(tuple(STAGES))
    ]
    assert stage_lines == list(STAGES)
    assert "[lightly-run] embed: loading torch and model efficientnet-lite0 on cpu" in result.stderr
    assert "\r" not in result.stderr
    assert "stage inspect: started" in (run_dir / "log.txt").read_text()
    for name in [
        "selected_filenames.txt",
        "embeddings.csv",
        "report.json",
        "log.txt",
        "config.yaml",
        "corruptness_check_information.json",
        "report.pdf",
    ]:
        assert (run_dir / name).is_file(), name
    assert not list(mounts.runs_dir.glob(".*partial")), "no half-written run dir is left"

    selected = (run_dir / "selected_filenames.txt").read_text().splitlines()
    assert len(selected) == 5 and len(set(selected)) == 5
    assert all((mounts.input_dir / key).is_file() for key in selected)

    with (run_dir / "embeddings.csv").open() as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    assert header[0] == "filenames" and header[-1] == "labels"
    assert header[1:-1] == [f"embedding_{i}" for i in range(1280)]
    assert [r[0] for r in body] == sorted(r[0] for r in body)
    assert "broken.jpg" not in [r[0] for r in body] and "dup_b.png" not in [r[0] for r in body]

    corrupt = json.loads((run_dir / "corruptness_check_information.json").read_text())
    assert list(corrupt["corrupt_samples"]) == ["broken.jpg"]
    # Lightly's bare type name as the reason; our full reason beside it.
    reason, detail = corrupt["corrupt_samples"]["broken.jpg"], corrupt["corrupt_samples_details"]
    assert reason.isidentifier() and detail["broken.jpg"].startswith(reason)
    report = json.loads((run_dir / "report.json").read_text())
    assert report["schema_version"] == 1
    assert report["counts"] == {
        "found": 15,
        "videos": 0,
        "corrupt_videos": 0,
        "skipped": 1,
        "skipped_by_reason": {"unsupported extension": 1},
        "corrupt": 1,
        "duplicates": 1,
        "preselected": 0,
        "candidates": 13,
        "selected": 5,
    }
    assert report["samples"]["duplicates"] == {"dup_b.png": "dup_a.png"}
    assert report["samples"]["selected"] == selected
    assert set(report["fingerprints"]) == {"config", "data", "model"}
    assert report["selection"]["stopped_by"] == "n_samples"


def test_user_error_is_one_line_without_traceback(mounts: Mounts, tmp_path: Path) -> None:
    result = run_cli([*mounts.overrides(), "selection.n_sample=5"], cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "lightly-run: error: unknown config key 'selection.n_sample' "
        "(did you mean 'selection.n_samples'?)"
    ]
    assert not mounts.runs_dir.exists()


def test_no_images_is_a_clear_error(tmp_path: Path) -> None:
    m = Mounts(tmp_path / "in", tmp_path / "out", "empty")
    m.input_dir.mkdir(parents=True)
    m.lightly_dir.mkdir(parents=True)
    (m.input_dir / "readme.md").write_text("nothing here")
    result = run_cli([*m.overrides(), *FAST, "selection.n_samples=2"], cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("lightly-run: error: no images")


def test_read_only_input_tree_is_left_byte_identical(mounts: Mounts, tmp_path: Path) -> None:
    before = snapshot(mounts.input_mount)
    make_read_only(mounts.input_mount)
    try:
        result = run_cli([*mounts.overrides(), *FAST, "selection.n_samples=3"], cwd=tmp_path)
        after = snapshot(mounts.input_mount)
    finally:
        make_writable(mounts.input_mount)
    assert result.returncode == 0, result.stderr
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    assert [p for p in mounts.input_mount.rglob("*") if p.name.startswith(".")] == []


def test_sweep_runs_each_job_in_its_own_dir_and_embeds_once(mounts: Mounts, tmp_path: Path) -> None:
    result = run_cli(["-m", *mounts.overrides(), *FAST, "selection.n_samples=2,4,6"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    runs = sorted(p for p in mounts.runs_dir.iterdir() if p.is_dir() and not p.is_symlink())
    assert len(runs) == 3
    reports = [json.loads((r / "report.json").read_text()) for r in runs]
    assert sorted(r["counts"]["selected"] for r in reports) == [2, 4, 6]
    misses = sorted(r["embedding_cache"]["misses"] for r in reports)
    assert misses == [0, 0, 12], "only the first job embeds"
    selections = sorted((r["counts"]["selected"], r["samples"]["selected"]) for r in reports)
    # Same data, same seed: each larger selection extends the smaller one (greedy k-center).
    assert selections[1][1][:2] == selections[0][1]
    assert selections[2][1][:4] == selections[1][1]
    assert not any(tmp_path.glob("multirun")), "Hydra writes nothing to the cwd"


@pytest.mark.slow
def test_same_inputs_config_and_seed_give_byte_identical_selection(
    mounts: Mounts, tmp_path: Path
) -> None:
    first = run_cli([*mounts.overrides(), *FAST, "selection.n_samples=6"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    selected_first = (latest_run(mounts) / "selected_filenames.txt").read_bytes()
    other = Mounts(mounts.input_mount, tmp_path / "fresh_lightly", mounts.relative_path)
    other.lightly_dir.mkdir(parents=True)
    second = run_cli([*other.overrides(), *FAST, "selection.n_samples=6"], cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert (latest_run(other) / "selected_filenames.txt").read_bytes() == selected_first
    assert (latest_run(other) / "embeddings.csv").read_bytes() == (
        latest_run(mounts) / "embeddings.csv"
    ).read_bytes()


def test_datapool_second_run_adds_only_new_samples_far_from_earlier_picks(
    mounts: Mounts, tmp_path: Path
) -> None:
    pool = ["worker.use_datapool=true"]
    first = run_cli([*mounts.overrides(), *FAST, *pool, "selection.n_samples=3"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    first_selected = (latest_run(mounts) / "selected_filenames.txt").read_text().splitlines()

    write_images(mounts.input_dir, [f"new/extra_{i}.png" for i in range(4)], seed=7)
    second = run_cli([*mounts.overrides(), *FAST, *pool, "selection.n_samples=2"], cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    report = json.loads((latest_run(mounts) / "report.json").read_text())
    assert report["datapool"]["preselected"] == sorted(first_selected)
    assert report["counts"]["preselected"] == 3
    assert report["counts"]["candidates"] == 4, "only samples new since the last run"
    selected = report["samples"]["selected"]
    assert len(selected) == 2 and all(key.startswith("new/") for key in selected)

    third = run_cli([*mounts.overrides(), *FAST, *pool, "selection.n_samples=2"], cwd=tmp_path)
    assert third.returncode == 2
    assert "no new samples since the last datapool run" in third.stderr


def _sweep_reports(mounts: Mounts) -> list[dict[str, object]]:
    runs = sorted(p for p in mounts.runs_dir.iterdir() if p.is_dir() and not p.is_symlink())
    return [json.loads((r / "report.json").read_text()) for r in runs]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("launcher", "n_samples"),
    [
        (["hydra/launcher=joblib", "hydra.launcher.n_jobs=3"], [2, 4, 6]),
        (["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=20"], [2, 3]),
    ],
    ids=["joblib", "submitit_local"],
)
def test_parallel_sweep_jobs_share_the_cache_and_embed_each_sample_once(
    mounts: Mounts, tmp_path: Path, launcher: list[str], n_samples: list[int]
) -> None:
    values = ",".join(map(str, n_samples))
    args = ["-m", *mounts.overrides(), *FAST, *launcher, f"selection.n_samples={values}"]
    result = run_cli(args, cwd=tmp_path, timeout=1200)
    assert result.returncode == 0, result.stderr
    reports = _sweep_reports(mounts)
    assert sorted(r["counts"]["selected"] for r in reports) == n_samples  # type: ignore[index]
    misses = sorted(r["embedding_cache"]["misses"] for r in reports)  # type: ignore[index]
    assert misses == [0] * (len(n_samples) - 1) + [12], "jobs run at once, one embeds"
    cache = mounts.lightly_dir / ".lightly" / "cache" / "embeddings"
    folders = [p for p in cache.iterdir() if p.is_dir()]
    assert len(folders) == 1 and sorted(p.name for p in cache.iterdir()) == sorted(
        [folders[0].name, f"{folders[0].name}.lock"]
    ), "one model's shard folder and its lock"
    shards = [p.name for p in folders[0].iterdir()]
    assert shards and all(n.startswith("shard-") for n in shards), "no torn or temporary file"
    sweeps = list((mounts.lightly_dir / ".lightly" / "sweeps").iterdir())
    assert len(sweeps) == 1 and (sweeps[0] / "sweep_report.json").is_file()
    assert not any(tmp_path.glob("multirun")), "Hydra writes nothing to the cwd"
