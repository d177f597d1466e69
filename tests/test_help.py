"""``lightly-run --help``: a real page for a newcomer, not Hydra's stock one."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli


def test_help_page_shows_usage_invocations_groups_and_docs(tmp_path: Path) -> None:
    (tmp_path / "lightly_conf" / "dataset").mkdir(parents=True)
    (tmp_path / "lightly_conf" / "dataset" / "mine.yaml").write_text("# @package _global_\n")
    result = run_cli(["--help"], cwd=tmp_path, env={"LIGHTLY_RUNNER_CONFIG_DIR": ""})
    page = result.stdout
    assert result.returncode == 0, result.stderr
    assert page.startswith("lightly-run:")
    assert "Usage: lightly-run" in page
    for invocation in (
        "+dataset=cam1",
        "mounts.input_mount=",
        "-m +dataset=cam1 selection.n_samples=10,50,100",
        "selection=representative",
        "from runner.api import ApiWorkflowClient",
        "$LIGHTLY_RUNNER_INPUT_MOUNT",
    ):
        assert invocation in page
    # The groups are generated from what Hydra finds, the user's own dataset included.
    assert "  dataset: cam1, example, mine\n" in page
    assert "  selection: default, diversity, representative\n" in page
    assert "Docs: " in page
    assert "powered by hydra" not in page.lower()
    assert "base_" not in page
    assert "input_mount: ???" not in page  # no config dump
    assert len(page.splitlines()) < 60
    assert max(len(line) for line in page.splitlines() if not line.startswith("Docs:")) <= 100


def test_help_values_are_computed_only_when_the_page_is_printed() -> None:
    from omegaconf import OmegaConf

    from runner.help import register_help_resolvers

    template = OmegaConf.create({"docs": "${lightly_runner.docs:}"})
    register_help_resolvers(["selection.n_samples=10"])
    assert template.docs == ""  # a run: Hydra merges the template thrice, for nothing
    register_help_resolvers(["--help"])
    assert "docs" in template.docs
    register_help_resolvers(["-h"])
    assert template.docs != ""
