"""Discovery never crashes on symlink loops or odd names: each is a listed skip with a reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runner.artifacts.write import write_lines
from runner.datasource.discover import (
    SKIP_CONTROL_CHARS,
    SKIP_NOT_UTF8,
    SKIP_SYMLINK_LOOP,
    discover,
    name_problem,
    printable_name,
)
from tests.conftest import write_images


def test_symlink_loops_are_listed_skips(tmp_path: Path) -> None:
    write_images(tmp_path, ["good.png"])
    (tmp_path / "a.png").symlink_to("b.png")
    (tmp_path / "b.png").symlink_to("a.png")
    (tmp_path / "self.png").symlink_to("self.png")
    (tmp_path / "loopdir").symlink_to("loopdir")
    found = discover(tmp_path)
    assert [s.key for s in found.samples] == ["good.png"]
    assert found.skipped[SKIP_SYMLINK_LOOP] == ["a.png", "b.png", "loopdir", "self.png"]


def test_names_that_are_not_utf8_are_listed_escaped(tmp_path: Path) -> None:
    write_images(tmp_path, ["good.png"])
    raw = os.fsencode(tmp_path)
    (Path(os.fsdecode(raw + b"/\xff\xfe.png"))).write_bytes((tmp_path / "good.png").read_bytes())
    os.mkdir(raw + b"/d\xff")
    Path(os.fsdecode(raw + b"/d\xff/x.png")).write_bytes(b"")
    found = discover(tmp_path)
    assert [s.key for s in found.samples] == ["good.png"]
    assert found.skipped[SKIP_NOT_UTF8] == ["\\xff\\xfe.png", "d\\xff/"]
    json.dumps(found.skipped, ensure_ascii=False).encode("utf-8")  # writable as report.json


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("new\nline.png", "new\\nline.png"),
        ("carriage\rreturn.png", "carriage\\rreturn.png"),
        ("tab\t.png", "tab\\t.png"),
        ("escape\x1b[31m.png", "escape\\x1b[31m.png"),
        ("delete\x7f.png", "delete\\x7f.png"),
        ("c1\x85.png", "c1\\x85.png"),
    ],
)
def test_control_characters_in_names_are_listed_skips(
    tmp_path: Path, name: str, shown: str
) -> None:
    write_images(tmp_path, ["good.png"])
    (tmp_path / name).write_bytes((tmp_path / "good.png").read_bytes())
    found = discover(tmp_path)
    assert [s.key for s in found.samples] == ["good.png"]
    assert found.skipped[SKIP_CONTROL_CHARS] == [shown]
    assert all("\n" not in line and "\r" not in line for line in found.skip_lines())


@pytest.mark.parametrize("name", ["ünïcødé.png", "with space.png", "#hash%.png", "-dash.png"])
def test_unusual_but_valid_names_are_samples(name: str) -> None:
    assert name_problem(name) is None
    assert printable_name(name) == name


def test_selected_filenames_refuse_a_line_break(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="line break"):
        write_lines(tmp_path / "selected_filenames.txt", ["a.png", "b\n.png"])
    assert not (tmp_path / "selected_filenames.txt").exists()


def test_relevant_filenames_with_a_bom_or_control_characters(tmp_path: Path) -> None:
    from runner.datasource.relevant import load_relevant_filenames
    from runner.errors import ConfigError

    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbfa.png\nb.png\n")
    assert load_relevant_filenames(bom).exact_paths == {"a.png", "b.png"}
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"a\x00b.png\n")
    with pytest.raises(ConfigError, match="line 1: paths must not contain control characters"):
        load_relevant_filenames(nul)


@pytest.mark.parametrize("data", [b"caf\xe9.png\n", b"\xff\xfe\x00a"])
def test_an_unreadable_tag_file_is_one_line(tmp_path: Path, data: bytes) -> None:
    from runner.config import InputType, SelectionInput
    from runner.datasource.tags import tag_resolver
    from runner.errors import ConfigError, DataError

    (tmp_path / "tags").mkdir()
    (tmp_path / "tags" / "mine.txt").write_bytes(data)
    resolve = tag_resolver(tmp_path)
    with pytest.raises(DataError, match="cannot read tag 'mine'") as info:
        resolve(SelectionInput(type=InputType.EMBEDDINGS, tag_name="mine"))
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="naming a tag"):
        resolve(SelectionInput(type=InputType.EMBEDDINGS, tag_name="mi\x00ne"))
