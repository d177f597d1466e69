"""The wheel ships conf/ and templates/ inside the package, and works outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("lightly_runner-*.whl")
    return built


@pytest.mark.slow
def test_wheel_contains_configs_templates_and_the_plugin(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {n for n in (REPO / "conf").rglob("*.yaml")}
    assert packaged, "conf/ has YAML files"
    for path in packaged:
        assert f"runner/conf/{path.relative_to(REPO / 'conf').as_posix()}" in names
    for path in (REPO / "templates").rglob("*"):
        if path.is_file():
            assert f"runner/templates/{path.relative_to(REPO / 'templates').as_posix()}" in names
    assert "hydra_plugins/lightly_runner/__init__.py" in names
    assert not any(n.startswith(("conf/", "templates/", "tests/")) for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "lightly-run = runner.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_installed_wheel_composes_from_any_directory(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import runner.resources as r; print(r.config_dir())"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert Path(where.stdout.strip()) == target / "runner" / "conf"
    shown = subprocess.run(
        [sys.executable, "-m", "runner.cli", "+dataset=cam1", "--cfg", "job"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert "input_mount: /home/user/datasets" in shown.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"], "nothing written to the cwd"
