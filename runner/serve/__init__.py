"""``lightly-serve``: a contained, read-only HTTP server over the two mounts, plus a local viewer.

:mod:`runner.serve.paths` maps URL paths to files (and refuses everything that could leave a
root), :mod:`runner.serve.files` answers one file request (ranges, validators, headers),
:mod:`runner.serve.server` is the stdlib server and handler (:mod:`runner.serve.network`: TLS),
:mod:`runner.serve.viewer` the static pages and JSON API under the reserved ``/_lightly/``
prefix (:mod:`~runner.serve.viewer_api` the endpoints, :mod:`~runner.serve.runs` runs and
sweeps, :mod:`~runner.serve.run_index` one run's samples, :mod:`~runner.serve.run_data` its
embeddings and map, :mod:`~runner.serve.cache` the bounded cache), and :mod:`runner.serve.cli`
the console script. Nothing here writes to disk. See ``docs/serve.md``.
"""

from __future__ import annotations
