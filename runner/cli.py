"""``lightly-run``: compose the Hydra config, check it, run the pipeline.

Before Hydra runs any job, every override (each value of a sweep too) is composed and validated
so that a typo or a bad path fails at once, in one line, with a non-zero exit and no traceback.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import os
import sys
import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, cast

import hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from runner.config import RunConfig, register_configs
from runner.config_errors import describe, describe_unknown_key, schema_node, unknown_keys
from runner.console import console_log_handler, console_progress
from runner.errors import UserError
from runner.help import register_help_resolvers
from runner.resources import config_dir

log = logging.getLogger("runner")

EXIT_USER_ERROR = 2
# What a run imports before its first stage. torch, torchvision and Lightning are not among
# them: the embedding stage loads them only when a sample needs embedding (a rerun over cached
# content never does), and its progress line says so while they load.
STARTUP_MODULES = ("runner.pipeline",)
# Hydra flags after which no job runs (help, printing the config, shell completion).
_INFO_FLAGS = {
    "--help",
    "-h",
    "--hydra-help",
    "--info",
    "-i",
    "--version",
    "--shell-completion",
    "-sc",
}
# Flags that print the composed config: it is checked like a job's, minus the paths.
_PRINT_FLAGS = {"--cfg", "-c"}
_FLAGS_WITH_VALUE = {
    "-cn",
    "--config-name",
    "-cp",
    "--config-path",
    "-cd",
    "--config-dir",
    "-p",
    "--package",
    "--experimental-rerun",
}


def fail(message: str) -> NoReturn:
    """Print one error line and exit non-zero."""
    print(f"lightly-run: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def setup_logging() -> None:
    """Console logging for the ``runner`` loggers; Hydra's job logging is off (see config)."""
    if log.handlers:
        return
    log.addHandler(console_log_handler())
    log.setLevel(logging.INFO)
    log.propagate = False


def check_known_keys(cfg: DictConfig, overrides: Sequence[str] = ()) -> None:
    """Refuse keys the schema does not know, with a "did you mean" hint.

    Args:
        cfg: The composed config.
        overrides: The command line's overrides; a key from a file they pick (``+dataset=X``)
            is reported with that file and line.

    Raises:
        UserError: for the first unknown key.
    """
    unknown = unknown_keys(cfg)
    if unknown:
        raise UserError(describe_unknown_key(unknown[0], overrides=overrides))


def to_run_config(cfg: DictConfig) -> RunConfig:
    """The typed, validated-by-schema config of one job."""
    return cast(RunConfig, OmegaConf.to_object(cfg))


def config_as_dict(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain data (for config.yaml, report.json and fingerprints)."""
    return cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))


def split_argv(argv: Sequence[str]) -> tuple[list[str], dict[str, str], bool]:
    """Split argv into overrides, Hydra flags with values, and whether a job will run.

    ``--cfg job`` appears in the flags as ``{"--cfg": "job"}`` (no job runs then).
    """
    overrides: list[str] = []
    flags: dict[str, str] = {}
    runs_job = True
    tokens = iter(argv)
    for token in tokens:
        name = token.split("=", 1)[0]
        if name in _INFO_FLAGS:
            runs_job = False
        elif name in _PRINT_FLAGS:
            runs_job = False
            flags["--cfg"] = token.split("=", 1)[1] if "=" in token else next(tokens, "")
        elif name in _FLAGS_WITH_VALUE:
            flags[name] = token.split("=", 1)[1] if "=" in token else next(tokens, "")
        elif not token.startswith("-"):
            overrides.append(token)
    return overrides, flags, runs_job


def open_free_form_keys(argv: Sequence[str]) -> list[str]:
    """``argv`` with overrides of free-form dict keys (``lightly.criterion.temperature=0.5``)
    turned into Hydra's add-or-override ``++`` form, so they pass as they do in YAML and the
    Python API. Keys of the schema's own nodes are left alone (a typo still fails)."""
    out: list[str] = []
    for token in argv:
        key = token.split("=", 1)[0]
        parent = key.rpartition(".")[0]
        free_form = parent and typing.get_origin(schema_node(parent)) is dict
        if "=" in token and not token.startswith(("-", "+", "~")) and free_form:
            token = f"++{token}"
        out.append(token)
    return out


def override_sets(overrides: Sequence[str]) -> Iterator[list[str]]:
    """The override lists to check: every sweep value at least once, without the full product."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    choices: list[list[str]] = []
    for override in parsed:
        if override.is_hydra_override():
            continue
        key = override.get_key_element()
        if override.is_sweep_override():
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            choices.append([override.input_line or f"{key}={override.get_value_element_as_str()}"])
    yield [values[0] for values in choices]
    for position, values in enumerate(choices):
        for value in values[1:]:
            yield [value if i == position else c[0] for i, c in enumerate(choices)]


@contextmanager
def _user_config_dir(flags: dict[str, str]) -> Iterator[None]:
    """Let the search-path plugin see ``--config-dir`` during the pre-check compose."""
    user_dir = flags.get("-cd") or flags.get("--config-dir")
    previous = os.environ.get("LIGHTLY_RUNNER_CONFIG_DIR")
    if user_dir:
        os.environ["LIGHTLY_RUNNER_CONFIG_DIR"] = user_dir
    try:
        yield
    finally:
        if user_dir:
            if previous is None:
                os.environ.pop("LIGHTLY_RUNNER_CONFIG_DIR", None)
            else:
                os.environ["LIGHTLY_RUNNER_CONFIG_DIR"] = previous


def precheck(argv: Sequence[str]) -> None:
    """Compose and validate every job a command line will run, before any of them starts.

    ``--cfg`` (print the config) composes and checks the keys too, but not the paths.

    Raises:
        UserError: the first problem, as one line.
    """
    from runner.validate import validate_run_config

    overrides, flags, runs_job = split_argv(argv)
    prints_config = "--cfg" in flags
    if not runs_job and not prints_config:
        return
    register_configs()
    config_name = flags.get("-cn") or flags.get("--config-name") or "config"
    try:
        combos = list(itertools.islice(override_sets(overrides), 64))
    except Exception as exc:  # hydra's OverrideParseException and friends
        raise UserError(describe(exc)) from exc
    with _user_config_dir(flags):
        for combo in combos:
            GlobalHydra.instance().clear()
            try:
                with hydra.initialize_config_dir(str(config_dir()), version_base="1.3"):
                    cfg = hydra.compose(config_name=config_name, overrides=combo)
                check_known_keys(cfg, combo)
                if prints_config:
                    continue  # printing may show '???' for values still to be given
                run_cfg = to_run_config(cfg)
            except UserError:
                raise
            except Exception as exc:
                raise UserError(describe(exc)) from exc
            finally:
                GlobalHydra.instance().clear()
            validate_run_config(run_cfg)
        if {"-m", "--multirun"} & set(argv) and combos:
            _check_sweep_dir(config_name, combos[0], overrides)


def _check_sweep_dir(config_name: str, combo: list[str], overrides: Sequence[str]) -> None:
    """Refuse a ``hydra.sweep.dir`` outside the Lightly datasource before Hydra creates it.

    Raises:
        UserError: The sweep folder is not inside the Lightly datasource, or a ``hydra.``
            override does not fit the config.
    """
    from runner.report.sweep import sweep_dir_of

    # hydra.* keys and hydra/* groups (a launcher: its keys exist only once it is chosen)
    hydra_overrides = [o for o in overrides if o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    GlobalHydra.instance().clear()
    try:
        with hydra.initialize_config_dir(str(config_dir()), version_base="1.3"):
            cfg = hydra.compose(
                config_name=config_name,
                overrides=[*combo, *hydra_overrides],
                return_hydra_config=True,
            )
    except Exception as exc:  # e.g. a hydra.launcher key the chosen launcher does not have
        raise UserError(describe(exc)) from exc
    finally:
        GlobalHydra.instance().clear()
    sweep_dir_of(cfg)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def _job(cfg: DictConfig) -> str:
    """One Hydra job: a run of the pipeline (which validates the config before any work).

    A helper process of a multi-node or torchrun launch (rank > 0) embeds its share and
    publishes nothing; it prints no run directory and returns "".
    """
    from runner.embedding.ranks import launched_rank
    from runner.pipeline import embed_share, run

    try:
        check_known_keys(cfg)
        run_cfg = to_run_config(cfg)
        rank = launched_rank()
        if rank > 0:
            n_samples = embed_share(run_cfg, progress=console_progress())
            print(f"rank {rank}: embedded its share of {n_samples} samples", flush=True)
            return ""
        outcome = run(run_cfg, config_dict=config_as_dict(cfg), progress=console_progress())
    except UserError as err:
        fail(str(err))
    except Exception as exc:
        if "omegaconf" in type(exc).__module__:
            fail(describe(exc))
        raise
    print(f"run directory: {outcome.run_dir}", flush=True)
    return str(outcome.run_dir)


def start_up(argv: Sequence[str]) -> None:
    """Before Hydra runs a job: import the heavy libraries and check every job, with progress.

    ``--help`` and ``--cfg`` import nothing heavy and show no progress. A failed check leaves
    no bar behind, only the error line.

    Raises:
        UserError: from :func:`precheck`.
    """
    if not split_argv(argv)[2]:
        precheck(argv)
        return
    with console_progress().stage("start-up") as progress:
        progress.expect(len(STARTUP_MODULES) + 1)
        for name in STARTUP_MODULES:
            importlib.import_module(name)
            progress.advance()
        precheck(argv)
        progress.advance()


def main() -> None:
    """Console script ``lightly-run``."""
    register_configs()
    register_help_resolvers(sys.argv[1:])
    setup_logging()
    sys.argv[1:] = open_free_form_keys(sys.argv[1:])
    try:
        start_up(sys.argv[1:])
    except UserError as err:
        fail(str(err))
    _job()


if __name__ == "__main__":
    main()
