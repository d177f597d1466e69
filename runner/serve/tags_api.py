"""The viewer's tags and exports: the tags of a run's Lightly datasource and their export files.

``runs/<ref>/tags`` lists the tags (``initial-tag``, one per later run, your own; see
:mod:`runner.datasource.tags`) with links to ``runs/<ref>/export?tag=&format=``, where
``format`` is ``filenames`` (a JSON list), ``read_urls`` (Lightly's ``fileName`` / ``readUrl`` /
``datasourceUrl`` records) or ``label_studio`` (Label Studio's import JSON, as is). Read URLs
are built from the run's ``datasource.web_server_location``, so they open while this server
runs there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import yaml

from runner.artifacts.files import FILES
from runner.datasource.export import ServedFolders, filenames_and_read_urls, label_studio_tasks
from runner.datasource.tags import list_tags, read_tag
from runner.errors import UserError
from runner.serve.paths import Roots
from runner.serve.runs import RunRef
from runner.serve.viewer_api import ApiError

FORMATS = ("filenames", "read_urls", "label_studio")


def tags(api_base: str, ref: RunRef, folder: Path) -> dict[str, Any]:
    """``runs/<ref>/tags``: every tag of the run's datasource and its export links."""
    dot_lightly = folder.parent.parent
    base = f"{api_base}runs/{quote(ref.ref)}/export"
    return {
        "tags": [
            {
                "name": tag.name,
                "run_id": tag.run_id,
                "tot_size": tag.tot_size,
                "this_run": tag.run_id == folder.name,
                "exports": {
                    kind: f"{base}?{urlencode({'tag': tag.name, 'format': kind})}"
                    for kind in FORMATS
                },
            }
            for tag in list_tags(dot_lightly)
        ]
    }


def export(roots: Roots, ref: RunRef, folder: Path, params: dict[str, list[str]]) -> Any:
    """``runs/<ref>/export?tag=&format=``: a tag of the run's datasource, for labelling.

    Raises:
        ApiError: unknown format (400), unknown tag or unreadable run config (404).
    """
    name = (params.get("tag") or [folder.name])[0]
    kind = (params.get("format") or ["filenames"])[0]
    if kind not in FORMATS:
        raise ApiError(400, f"format must be one of {', '.join(FORMATS)}")
    try:
        filenames = read_tag(folder.parent.parent, name)
    except UserError as err:
        raise ApiError(404, str(err)) from None
    if kind == "filenames":
        return filenames
    served = _served(roots, ref, folder)
    if kind == "read_urls":
        return filenames_and_read_urls(filenames, served)
    return label_studio_tasks(filenames, served)


def _served(roots: Roots, ref: RunRef, folder: Path) -> ServedFolders:
    """Where the run read its input and where this server serves it, from its config.yaml."""
    try:
        config = yaml.safe_load((folder / FILES["config"]).read_text(encoding="utf-8"))
        datasource = config["datasource"]
        input_relative = str(datasource["input"]["relative_path"] or "")
        location = str(datasource["web_server_location"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ApiError(404, f"the run has no readable {FILES['config']}: {exc}") from None
    input_dir = (roots.input / input_relative).resolve()
    if not input_dir.is_relative_to(roots.input):
        raise ApiError(404, "the run's input datasource is not under the input mount")
    return ServedFolders(
        input_dir=input_dir,
        input_relative=input_relative,
        lightly_dir=folder.parent.parent.parent,
        lightly_relative=ref.datasource,
        web_server_location=location,
    )
