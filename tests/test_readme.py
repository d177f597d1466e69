"""The README's first run works as written on a fresh clone, with no environment variable."""

from __future__ import annotations

import re
from collections.abc import Iterator

import hydra
import pytest
from hydra.core.global_hydra import GlobalHydra

from runner.cli import to_run_config
from runner.config import register_configs
from runner.resources import config_dir
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


@pytest.fixture(autouse=True)
def _no_demo_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("LIGHTLY_RUNNER_DEMO", raising=False)
    register_configs()
    GlobalHydra.instance().clear()
    yield
    GlobalHydra.instance().clear()


def first_commands() -> list[str]:
    """The commands of the README's first shell block, comments stripped."""
    block = re.search(r"```bash\n(.*?)```", README, re.DOTALL)
    assert block is not None
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def test_first_block_sets_up_activates_builds_the_demo_then_runs_it() -> None:
    commands = first_commands()
    assert commands[0] == "make install"
    assert commands.index("source .venv/bin/activate") < commands.index("make demo")
    first_run = next(c for c in commands if c.startswith("lightly-run"))
    assert commands.index("make demo") < commands.index(first_run)
    assert "+dataset=example" in first_run


def test_example_dataset_reads_the_folder_make_demo_builds_without_env() -> None:
    with hydra.initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = to_run_config(hydra.compose(config_name="config", overrides=["+dataset=example"]))
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^DEMO \?= \$\(CURDIR\)/demo$", makefile, re.MULTILINE)
    assert cfg.mounts.input_mount == str(REPO / "demo" / "input")
    assert cfg.mounts.lightly_mount == str(REPO / "demo" / "lightly")


def test_cam1_is_marked_as_the_seeds_layout() -> None:
    first = next(line for line in README.splitlines() if "+dataset=cam1" in line)
    assert "the seed's layout" in first
    assert re.search(
        r"`\+dataset=cam1` is the seed's example layout: videos in\s+`/home/user/datasets/cam1`",
        README,
    )


def test_the_training_commands_compose() -> None:
    """Train, reuse and bring-your-own-embeddings commands use real keys."""
    section = README.split("## Train on your data", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.startswith("lightly-run")]
    assert len(commands) == 3
    for command in commands:
        with hydra.initialize_config_dir(str(config_dir()), version_base="1.3"):
            composed = hydra.compose(config_name="config", overrides=command.split()[1:])
        GlobalHydra.instance().clear()
        to_run_config(composed)
