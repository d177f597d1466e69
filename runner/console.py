"""Progress on the console: Lightning's tqdm bar on a terminal, one plain line per stage otherwise.

On a terminal every stage draws the bar Lightning draws while it predicts (same tqdm, same
format), so start-up, inspection, embedding, thumbnails, artifacts and the report look alike;
a stage with nothing to count ends with ``name: done in 1.2 s``. A stage's running values
(the training loss) show in the bar's postfix, as Lightning shows its logged metrics
(``loss=4.21``). When the stream is not a terminal (a log file, CI), bars would fill it with
carriage returns, so each stage prints one line when it ends
(``[lightly-run] inspect: 120/120 in 2.31 s``, with the last values:
``train: 6/6 in 9.40 s, epoch=2/2, loss=4.12``) and announcements such as the model load print
one line as they start. tqdm comes with Lightning: no new dependency.
"""

from __future__ import annotations

import logging
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TextIO

from tqdm import tqdm

from runner.artifacts.stages import STAGE_RECORD
from runner.progress import NO_PROGRESS, Progress, StageProgress

BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"
"""Lightning's ``TQDMProgressBar.BAR_FORMAT`` (a test keeps the two equal)."""

STATUS_FORMAT = "{desc} [{elapsed}]"
"""A step announced before there is anything to count (``embed: loading model … [00:02]``)."""

PREFIX = "[lightly-run] "


def console_progress(stream: TextIO | None = None, *, interactive: bool | None = None) -> Progress:
    """The reporter for ``stream`` (default stderr): bars on a terminal, else plain lines.

    Args:
        stream: Where progress goes.
        interactive: Force bars (True) or plain lines (False); None asks ``stream.isatty()``.
    """
    out = stream if stream is not None else sys.stderr
    tty = _isatty(out) if interactive is None else interactive
    return TerminalProgress(out) if tty else PlainProgress(out)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


class BarSafeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes log lines above an open bar (via ``tqdm.write``) instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:
            self.handleError(record)


def console_log_handler(stream: TextIO | None = None) -> logging.Handler:
    """The console handler of the ``runner`` loggers: ``[lightly-run] message``, bar-safe,
    without the stage start/end records (the stages' progress shows those)."""
    handler = BarSafeHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PREFIX}%(message)s"))
    handler.addFilter(HideStageRecords())
    return handler


class HideStageRecords(logging.Filter):
    """Keeps the ``stage X: started/done`` log records off the console (the bars show them);
    ``log.txt`` still gets them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not hasattr(record, STAGE_RECORD)


class TerminalProgress:
    """tqdm bars in Lightning's format on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def stage(self, name: str) -> AbstractContextManager[StageProgress]:
        """A bar (or a status line) for the stage, closed when the stage ends."""
        return _run_stage(_BarStage(name, self.stream))


class PlainProgress:
    """One line per stage when it ends, and one per announcement, for logs and pipes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def stage(self, name: str) -> AbstractContextManager[StageProgress]:
        """Counts the stage's work and prints its line when it ends."""
        return _run_stage(_PlainStage(name, self.stream))


class _Stage(ABC):
    """Counts the work of one stage; subclasses show it."""

    def __init__(self, name: str, stream: TextIO) -> None:
        self.name = name
        self.stream = stream
        self.total = 0
        self.done = 0
        self.values = ""  # the last running values, as tqdm's postfix ("loss=4.21")
        self.started = time.perf_counter()

    def expect(self, n: int) -> None:
        self.total += n

    def advance(self, n: int = 1) -> None:
        self.done += n

    def metrics(self, values: Mapping[str, float | str]) -> None:
        self.values = format_values(values)

    @abstractmethod
    def note(self, text: str) -> None:
        """Show an announcement."""

    @abstractmethod
    def close(self, *, ok: bool) -> None:
        """End the stage's output; ``ok`` is False when the stage raised."""

    def summary(self) -> str:
        """``120/120 in 2.31 s`` or ``done in 0.41 s``, then the last running values."""
        elapsed = time.perf_counter() - self.started
        text = f"{self.done}/{self.total}" if self.total else "done"
        text += f" in {elapsed:.2f} s"
        return f"{text}, {self.values}" if self.values else text


class _PlainStage(_Stage):
    def note(self, text: str) -> None:
        print(f"{PREFIX}{self.name}: {text}", file=self.stream, flush=True)

    def close(self, *, ok: bool) -> None:
        if ok:
            print(f"{PREFIX}{self.name}: {self.summary()}", file=self.stream, flush=True)


class _BarStage(_Stage):
    def __init__(self, name: str, stream: TextIO) -> None:
        super().__init__(name, stream)
        self.bar: tqdm | None = None
        self.status: tqdm | None = None

    def expect(self, n: int) -> None:
        super().expect(n)
        if self.total == 0:
            return  # nothing to do (all cached): the stage ends with its "done in" line
        if self.bar is None:
            self._close_status()
            self.bar = tqdm(
                total=self.total,
                desc=self.name,
                bar_format=BAR_FORMAT,
                dynamic_ncols=True,
                file=self.stream,
                leave=True,
                smoothing=0,
                postfix=self.values or None,
            )
        else:
            self.bar.total = self.total
            self.bar.refresh()

    def advance(self, n: int = 1) -> None:
        super().advance(n)
        if self.bar is not None:
            self.bar.update(n)

    def metrics(self, values: Mapping[str, float | str]) -> None:
        super().metrics(values)
        if self.bar is not None:
            self.bar.set_postfix_str(self.values, refresh=False)  # drawn with the next update

    def note(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(f"{self.name}: {text}", file=self.stream)
            return
        self._close_status()
        self.status = tqdm(
            total=None,
            desc=f"{self.name}: {text}",
            bar_format=STATUS_FORMAT,
            file=self.stream,
            leave=False,
        )

    def close(self, *, ok: bool) -> None:
        self._close_status()
        if self.bar is not None:
            self.bar.leave = ok  # a failed stage leaves only its error line
            self.bar.close()
        elif ok:
            print(f"{self.name}: {self.summary()}", file=self.stream, flush=True)

    def _close_status(self) -> None:
        if self.status is not None:
            self.status.close()
            self.status = None


def format_values(values: Mapping[str, float | str]) -> str:
    """``loss=4.21, epoch=1/3``: tqdm's postfix of ``set_postfix`` (numbers in tqdm's short
    form), the way Lightning's bar shows its metrics."""
    return ", ".join(
        f"{key}={value if isinstance(value, str) else tqdm.format_num(value)}"
        for key, value in values.items()
    )


@contextmanager
def _run_stage(stage: _Stage) -> Iterator[StageProgress]:
    ok = False
    try:
        yield stage
        ok = True
    finally:
        stage.close(ok=ok)


__all__ = ["NO_PROGRESS", "HideStageRecords", "console_log_handler", "console_progress"]
