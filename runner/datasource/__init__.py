"""Where samples come from: discovery in the input datasource, paths under ``.lightly/``."""
