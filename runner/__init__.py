"""lightly-runner: a local, declarative rebuild of the Lightly Worker."""

__version__ = "0.1.0"
