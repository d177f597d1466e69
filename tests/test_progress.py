"""Progress: Lightning's bar on a terminal, one plain line per stage otherwise; stages only
report to the :class:`~runner.progress.StageProgress` they are given."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from runner.artifacts.lightly_thumbnails import write_lightly_thumbnails
from runner.config import (
    InputType,
    SelectionConfig,
    SelectionInput,
    SelectionStrategy,
    StrategyEntry,
    StrategyType,
)
from runner.console import BAR_FORMAT, console_progress
from runner.datasource.discover import discover
from runner.decode.inspect import inspect_files
from runner.report.thumbnails import make_thumbnails
from runner.selection.select import select
from tests.conftest import write_images


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@dataclass
class Recorder:
    """A StageProgress that remembers what it was told."""

    expected: int = 0
    done: int = 0
    notes: list[str] = field(default_factory=list)
    values: list[dict[str, float | str]] = field(default_factory=list)

    def expect(self, n: int) -> None:
        self.expected += n

    def advance(self, n: int = 1) -> None:
        self.done += n

    def note(self, text: str) -> None:
        self.notes.append(text)

    def metrics(self, values: Mapping[str, float | str]) -> None:
        self.values.append(dict(values))


def test_bars_use_lightnings_format() -> None:
    from lightning.pytorch.callbacks import TQDMProgressBar

    assert BAR_FORMAT == TQDMProgressBar.BAR_FORMAT


def test_plain_output_is_one_line_per_stage_and_one_per_announcement() -> None:
    out = io.StringIO()
    progress = console_progress(out)
    with progress.stage("embed") as stage:
        stage.note("loading model resnet-18 on cpu")
        stage.expect(3)
        stage.advance(3)
    with progress.stage("select"):
        pass
    lines = out.getvalue().splitlines()
    assert lines[0] == "[lightly-run] embed: loading model resnet-18 on cpu"
    assert lines[1].startswith("[lightly-run] embed: 3/3 in ")
    assert lines[2].startswith("[lightly-run] select: done in ")
    assert len(lines) == 3
    assert "\r" not in out.getvalue()


def test_running_values_show_in_the_bar_and_end_the_plain_line() -> None:
    plain, terminal = io.StringIO(), FakeTerminal()
    for out in (plain, terminal):
        with console_progress(out).stage("train") as stage:
            stage.expect(4)
            for step in range(4):
                stage.metrics({"epoch": f"{step // 2 + 1}/2", "loss": 5.0 - step / 4})
                stage.advance()
    line = plain.getvalue()
    assert "\r" not in line and line.count("\n") == 1
    assert line.startswith("[lightly-run] train: 4/4 in ")
    assert line.rstrip().endswith(" s, epoch=2/2, loss=4.25")
    bar = terminal.getvalue().split("\r")[-1]  # tqdm redraws at most every 0.1 s: the last
    assert "train: 100%|" in bar and "| 4/4 [" in bar
    assert bar.rstrip().endswith("it/s, epoch=2/2, loss=4.25]"), bar


def test_terminal_output_draws_tqdm_bars_and_a_failed_stage_leaves_no_bar() -> None:
    out = FakeTerminal()
    progress = console_progress(out)
    with progress.stage("inspect") as stage:
        stage.expect(4)
        stage.advance(4)
    with pytest.raises(RuntimeError), progress.stage("report") as stage:
        stage.expect(2)
        raise RuntimeError("boom")
    text = out.getvalue()
    assert "inspect: 100%|" in text
    assert "| 4/4 [" in text
    assert "report:   0%|" in text
    assert text.split("\r")[-1].strip() == "", "the failed stage's bar is cleared"


def test_stages_report_every_item_to_the_progress_they_get(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_images(folder, [f"a{i}.png" for i in range(5)])
    samples = discover(folder).samples
    inspected = Recorder()
    inspect_files(samples, cache_file=None, num_threads=1, progress=inspected)
    assert (inspected.expected, inspected.done) == (5, 5)

    thumbs = Recorder()
    write_lightly_thumbnails(
        samples,
        lightly_dir=tmp_path / "lm",
        suffix=".lightly/thumbnails/[filename]_thumb.[extension]",
        num_threads=1,
        progress=thumbs,
    )
    assert (thumbs.expected, thumbs.done) == (5, 5)

    report = Recorder()
    make_thumbnails(
        keys=[s.key for s in samples],
        input_dir=folder,
        out_dir=tmp_path / "run" / "thumbnails",
        size=32,
        progress=report,
    )
    assert (report.expected, report.done) == (5, 5)


def test_selection_reports_every_pick() -> None:
    entry = StrategyEntry(
        input=SelectionInput(type=InputType.EMBEDDINGS),
        strategy=SelectionStrategy(type=StrategyType.DIVERSITY),
    )
    picks = Recorder()
    embeddings = np.random.default_rng(0).standard_normal((30, 8)).astype(np.float32)
    result = select(
        embeddings=embeddings,
        cfg=SelectionConfig(n_samples=7, strategies=[entry]),
        seed=1,
        progress=picks,
    )
    assert len(result.indices) == 7
    assert (picks.expected, picks.done) == (7, 7)
