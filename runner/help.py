"""The values ``lightly-run --help`` fills in: config groups and where the docs are.

The page itself is Hydra's help template, ``conf/hydra/help/lightly_run.yaml``. Its two
generated parts come from OmegaConf resolvers registered here, so they are computed only when
the page is printed:

- ``${lightly_runner.config_groups:}``: every config group Hydra can see (packaged and the
  user's config dir) with its options, as Hydra's ``$APP_CONFIG_GROUPS`` lists them, minus the
  internal ``base_*`` schemas and Hydra's own groups;
- ``${lightly_runner.docs:}``: the ``docs/`` folder of a checkout, else where to find it.
"""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from runner.resources import docs_dir

INTERNAL_PREFIX = "base_"
"""Options with this prefix are the typed schemas the YAML files extend, not user choices."""

DOCS_ELSEWHERE = "README.md and docs/ of the lightly-runner source tree"


def config_groups() -> str:
    """One line per user-facing config group: ``  group: option, option``.

    Reads the config loader of the running Hydra app; outside one (no app initialised) it
    says so instead of failing, since the help page must always print.
    """
    hydra_app = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    if hydra_app is None:
        return "  (run lightly-run --help to list them)"
    loader = hydra_app.config_loader
    lines = []
    for group in sorted(hydra_app.list_all_config_groups()):
        if group == "hydra" or group.startswith("hydra/"):
            continue
        options = [
            o for o in sorted(loader.get_group_options(group)) if not o.startswith(INTERNAL_PREFIX)
        ]
        if options:
            lines.append(f"  {group}: {', '.join(options)}")
    return "\n".join(lines)


def docs_location() -> str:
    """The docs folder of a checkout or editable install, else a pointer to the source tree."""
    docs = docs_dir()
    return f"{docs.parent / 'README.md'} and {docs}/" if docs is not None else DOCS_ELSEWHERE


HELP_FLAGS = frozenset({"--help", "-h"})
"""Hydra's flags that print the help page (the only time the page's values are needed)."""


def _not_printed() -> str:
    """Stands in for a help value when no help page is printed."""
    return ""


def register_help_resolvers(argv: Sequence[str]) -> None:
    """Make the help template's resolvers known to OmegaConf (idempotent).

    Hydra dereferences the template each time it merges the config (three times per run), and
    listing the config groups walks every config source: ~1 s of CPU for nothing on a run that
    prints no help. So the real resolvers are registered only when ``argv`` asks for the page.
    """
    printing = not HELP_FLAGS.isdisjoint(argv)
    OmegaConf.register_new_resolver(
        "lightly_runner.config_groups",
        config_groups if printing else _not_printed,
        replace=True,
        use_cache=False,
    )
    OmegaConf.register_new_resolver(
        "lightly_runner.docs",
        docs_location if printing else _not_printed,
        replace=True,
        use_cache=False,
    )
