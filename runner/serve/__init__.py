"""``lightly-serve``: a contained, read-only HTTP server over the two mounts, plus a local viewer.

:mod:`runner.serve.paths` maps URL paths to files (and refuses everything that could leave a
root), :mod:`runner.serve.files` answers one file request (ranges, validators, headers),
:mod:`runner.serve.server` is the stdlib server and handler, :mod:`runner.serve.viewer` the
JSON API and static pages under the reserved ``/_lightly/`` prefix, and :mod:`runner.serve.cli`
the console script. The server writes nothing anywhere.
"""

from __future__ import annotations
