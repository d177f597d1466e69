"""The files of a run under ``.lightly/runs/<run id>/``, written atomically."""
