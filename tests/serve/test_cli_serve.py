"""``lightly-serve`` command line: Lightly's arguments, validation in one line, ``+dataset=``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runner.serve.cli import main

LIGHTLY_SERVE = Path(sys.executable).parent / "lightly-serve"


@pytest.fixture()
def mounts(tmp_path: Path) -> tuple[Path, Path]:
    inp, lig = tmp_path / "input", tmp_path / "lightly"
    (inp / "cam1" / "deep").mkdir(parents=True)
    (inp / "cam1" / "deep" / "frame.JPG").write_bytes(b"\xff\xd8 an image by its extension")
    lig.mkdir()
    (lig / "note.txt").write_text("from the lightly mount")
    return inp, lig


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """Call ``main`` in-process; return its exit code and stderr lines."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return int(exited.value.code or 0), capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "input_mount is required"),
        (["input_mount={inp}"], "lightly_mount is required"),
        (
            ["input_mount={missing}", "lightly_mount={lig}"],
            "input_mount '{missing}' does not exist",
        ),
        (["input_mount={file}", "lightly_mount={lig}"], "input_mount '{file}' is not a directory"),
        (["input_mount={lig}", "lightly_mount={lig}"], "contains no image or video file"),
        (["input_mount={inp}", "lightly_mount={missing}"], "lightly_mount '{missing}' does not"),
        (["input_mount={inp}", "lightly_mount={lig}", "port=http"], "port must be a number"),
        (["input_mount={inp}", "lightly_mount={lig}", "port=70000"], "between 0 and 65535"),
        (["input_mnt={inp}"], "unknown argument 'input_mnt' (did you mean 'input_mount'?)"),
        (["{inp}"], "expected key=value"),
        (["dataset=cam1"], "use +dataset=NAME"),
        (["input_mount={inp}", "lightly_mount={lig}", "ssl_key={file}"], "ssl_key needs ssl_cert"),
        (["input_mount={inp}", "lightly_mount={lig}", "ssl_cert={missing}"], "is not a file"),
        (["input_mount={inp}", "lightly_mount={lig}", "ssl_cert={file}"], "cannot use ssl_cert"),
        (["+dataset=no_such_dataset"], "no_such_dataset"),
    ],
)
def test_user_errors_are_one_line_with_exit_2(
    mounts: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    inp, lig = mounts
    (tmp_path / "plain.txt").write_text("not a directory, not a certificate")
    names = {"inp": inp, "lig": lig, "missing": tmp_path / "nope", "file": tmp_path / "plain.txt"}
    code, lines = run_main([a.format(**names) for a in argv], capsys)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("lightly-serve: error: ")
    assert message.format(**names) in lines[0]


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--help"])
    assert "input_mount=DIR lightly_mount=DIR" in capsys.readouterr().out


@contextmanager
def serving(args: list[str], env: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """Start the installed script; yield its base URL and the banner; stop it with SIGTERM."""
    process = subprocess.Popen(
        [str(LIGHTLY_SERVE), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    try:
        first = process.stdout.readline()
        if not first:
            pytest.fail(
                f"lightly-serve did not start: {process.stderr.read() if process.stderr else ''}"
            )
        banner = first + "".join(process.stdout.readline() for _ in range(4))
        yield first.split("serving ", 1)[1].strip(), banner
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "lightly-serve: stopped" in out


def test_serves_and_prints_url_folders_and_viewer(mounts: tuple[Path, Path]) -> None:
    inp, lig = mounts
    with serving([f"input_mount={inp}", f"lightly_mount={lig}", "port=0"]) as (url, banner):
        assert url.startswith("http://localhost:")
        assert str(inp.resolve()) in banner and str(lig.resolve()) in banner
        assert f"{url}/_lightly/" in banner
        with urllib.request.urlopen(f"{url}/cam1/deep/frame.JPG?v=2", timeout=10) as reply:
            assert reply.read().startswith(b"\xff\xd8")
        with urllib.request.urlopen(f"{url}/note.txt", timeout=10) as reply:
            assert reply.read() == b"from the lightly mount"


def test_dataset_mode_takes_mounts_and_location_from_the_config(
    mounts: tuple[Path, Path], tmp_path: Path
) -> None:
    inp, lig = mounts
    user_dir = tmp_path / "user_conf"
    (user_dir / "dataset").mkdir(parents=True)
    (user_dir / "dataset" / "mine.yaml").write_text(
        "# @package _global_\n"
        f"mounts:\n  input_mount: {inp}\n  lightly_mount: {lig}\n"
        "datasource:\n  input:\n    relative_path: cam1\n  lightly:\n    relative_path: cam1\n"
        "  web_server_location: http://127.0.0.1:0\n"
    )
    env = {"LIGHTLY_RUNNER_CONFIG_DIR": str(user_dir)}
    with serving(["+dataset=mine"], env=env) as (url, banner):
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        assert str(inp.resolve()) in banner
        with urllib.request.urlopen(f"{url}/note.txt", timeout=10) as reply:
            assert reply.read() == b"from the lightly mount"


def test_dataset_mode_rejects_https_without_a_certificate(
    mounts: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    inp, lig = mounts
    argv = [
        "+dataset=example",
        f"input_mount={inp}",
        f"lightly_mount={lig}",
        "datasource.web_server_location=https://localhost:3456",
    ]
    code, lines = run_main(argv, capsys)
    assert code == 2 and len(lines) == 1 and "https://" in lines[0]


def test_non_local_host_is_a_printed_warning(mounts: tuple[Path, Path]) -> None:
    inp, lig = mounts
    args = [f"input_mount={inp}", f"lightly_mount={lig}", "host=0.0.0.0", "port=0"]
    process = subprocess.Popen([str(LIGHTLY_SERVE), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    warning = process.stderr.readline()
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=10)
    assert warning.startswith("lightly-serve: warning: listening on 0.0.0.0")
    assert "no authentication" in warning
