"""Lightly's relevant_filenames_file rules: exact paths, prefix rules, rejected lines."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from runner.datasource.relevant import load_relevant_filenames
from runner.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".lightly" / "relevant_filenames.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_exact_paths_ignore_comments_and_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "# wanted\n\na.png\n  sub/b.jpg  \nmy image.png\n")

    relevant = load_relevant_filenames(path)

    assert relevant.exact_paths == frozenset({"a.png", "sub/b.jpg", "my image.png"})
    assert relevant.matches("a.png")
    assert relevant.matches("sub/b.jpg")
    assert relevant.matches("my image.png")
    assert not relevant.matches("b.jpg")
    assert not relevant.matches("sub/a.png")
    assert not relevant.matches("# wanted")


def test_spec_example_prefix_with_exclude_and_reinclude(tmp_path: Path) -> None:
    line = "subdir/* subdir/image_4* !subdir/image_41.png !subdir/image_42.png"
    relevant = load_relevant_filenames(_write(tmp_path, line + "\n"))

    assert relevant.exact_paths == frozenset()
    assert relevant.matches("subdir/image_1.png")
    assert relevant.matches("subdir/nested/image_4.png")  # anchored pattern: one level only
    assert not relevant.matches("subdir/image_4.png")
    assert not relevant.matches("subdir/image_40.png")
    assert relevant.matches("subdir/image_41.png")
    assert relevant.matches("subdir/image_42.png")
    assert not relevant.matches("other/image_1.png")
    assert not relevant.matches("subdir")


def test_last_matching_pattern_wins(tmp_path: Path) -> None:
    relevant = load_relevant_filenames(_write(tmp_path, "d/* !d/a.png d/*.png\n"))

    assert not relevant.matches("d/a.png")  # excluded again by the later d/*.png
    assert relevant.matches("d/a.jpg")


def test_prefix_is_plain_text_before_first_star(tmp_path: Path) -> None:
    relevant = load_relevant_filenames(_write(tmp_path, "img_*\n"))

    assert relevant.matches("img_1.png")
    assert relevant.matches("img_dir/x.png")
    assert not relevant.matches("sub/img_1.png")
    assert not relevant.matches("image_1.png")


def test_exact_and_prefix_lines_combine(tmp_path: Path) -> None:
    relevant = load_relevant_filenames(_write(tmp_path, "a.png\nsub/*\n"))

    assert relevant.matches("a.png")
    assert relevant.matches("sub/b.png")
    assert not relevant.matches("c.png")


def test_duplicate_lines_are_kept_once_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, "a.png\nsub/*\na.png\nsub/*\n")

    with caplog.at_level(logging.WARNING, logger="runner.datasource.relevant"):
        relevant = load_relevant_filenames(path)

    assert relevant.exact_paths == frozenset({"a.png"})
    assert len(relevant.prefix_rules) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "line 3" in warnings[0]
    assert "a.png" in warnings[0]


@pytest.mark.parametrize(
    "bad_line",
    [
        "/data/images/a.png",
        "C:/images/a.png",
        "./a.png",
        "../a.png",
        "sub/../a.png",
        "./sub/*",
        "sub/* !../x.png",
    ],
)
def test_lines_leaving_the_root_are_rejected_with_line_number(
    tmp_path: Path, bad_line: str
) -> None:
    path = _write(tmp_path, f"ok.png\n{bad_line}\n")

    with pytest.raises(ConfigError) as excinfo:
        load_relevant_filenames(path)

    message = str(excinfo.value)
    assert "line 2" in message
    assert bad_line in message


def test_dots_inside_names_are_allowed(tmp_path: Path) -> None:
    relevant = load_relevant_filenames(_write(tmp_path, "a..b.png\nsub/x.y.png\n"))

    assert relevant.exact_paths == frozenset({"a..b.png", "sub/x.y.png"})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_relevant_filenames(tmp_path / "nope.txt")
