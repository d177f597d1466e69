"""``lightly-serve``: serve the input and Lightly mounts (and the viewer) over HTTP(S).

Two forms, Lightly's arguments in ``key=value`` style (no Hydra run dirs or logs)::

    lightly-serve input_mount=/data/in lightly_mount=/data/lightly [host=localhost] [port=3456]
                  [ssl_cert=cert.pem ssl_key=key.pem] [log_requests=true]
    lightly-serve +dataset=cam1 [key=value ...]

The second takes the mounts from the same dataset config as ``lightly-run`` and host/port from
``datasource.web_server_location``; keys given explicitly win, and other ``a.b=c`` tokens are
passed to the config composition as overrides. User mistakes print one line and exit 2.
"""

from __future__ import annotations

import difflib
import os
import signal
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

from runner.datasource.discover import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from runner.errors import UserError
from runner.serve.paths import Roots

if TYPE_CHECKING:
    from runner.serve.server import LightlyServer

EXIT_USER_ERROR = 2
DEFAULTS = {
    "input_mount": "",
    "lightly_mount": "",
    "host": "localhost",
    "port": "3456",
    "ssl_cert": "",
    "ssl_key": "",
    "log_requests": "false",
}
USAGE = (
    "usage: lightly-serve input_mount=DIR lightly_mount=DIR [host=localhost] [port=3456]\n"
    "                     [ssl_cert=FILE ssl_key=FILE] [log_requests=false]\n"
    "       lightly-serve +dataset=NAME [key=value ...]\n"
    "Serves both folders read-only (input first, then lightly) and a viewer at /_lightly/."
)


@dataclass(frozen=True)
class ServeArgs:
    """Validated arguments."""

    input_mount: Path
    lightly_mount: Path
    host: str
    port: int
    ssl_cert: str
    ssl_key: str
    log_requests: bool


def fail(message: str) -> NoReturn:
    """Print one error line and exit with the user-error code."""
    print(f"lightly-serve: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def split_tokens(argv: Sequence[str]) -> tuple[dict[str, str], str | None, list[str]]:
    """Split argv into our keys, the ``+dataset`` name and config overrides.

    Raises:
        UserError: a token that is not ``key=value``, or an unknown key without ``+dataset``.
    """
    values: dict[str, str] = {}
    dataset: str | None = None
    overrides: list[str] = []
    for token in argv:
        key, sep, value = token.partition("=")
        if not sep:
            raise UserError(f"expected key=value, got '{token}' (see lightly-serve --help)")
        if key == "+dataset":
            dataset = value
        elif key == "dataset":
            raise UserError("use +dataset=NAME (with the +), as for lightly-run")
        elif key in DEFAULTS:
            values[key] = value
        else:
            overrides.append(token)
    if overrides and dataset is None:
        key = overrides[0].partition("=")[0]
        close = difflib.get_close_matches(key, list(DEFAULTS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UserError(f"unknown argument '{key}'{hint}")
    return values, dataset, overrides


def dataset_settings(dataset: str, overrides: Sequence[str]) -> dict[str, str]:
    """Mounts and host/port of a dataset config, composed as ``lightly-run`` composes it.

    Raises:
        UserError: unknown dataset, bad override, missing mounts, unusable web_server_location.
    """
    import hydra
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from runner.config import register_configs
    from runner.config_errors import describe
    from runner.resources import config_dir

    register_configs()
    GlobalHydra.instance().clear()
    try:
        with hydra.initialize_config_dir(str(config_dir()), version_base="1.3"):
            cfg = hydra.compose("config", overrides=[f"+dataset={dataset}", *overrides])
        mounts = {
            key: str(OmegaConf.select(cfg, f"mounts.{key}", throw_on_missing=True))
            for key in ("input_mount", "lightly_mount")
        }
        location = str(OmegaConf.select(cfg, "datasource.web_server_location"))
    except Exception as exc:
        # Hydra appends the whole search path; the first sentences say what is wrong.
        raise UserError(describe(exc).split(" Config search path:")[0]) from exc
    finally:
        GlobalHydra.instance().clear()
    return {**mounts, **_host_port(location)}


def _host_port(location: str) -> dict[str, str]:
    """``host``, ``port`` (and the scheme check) from ``web_server_location``."""
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"datasource.web_server_location must be http(s)://host:port: {location!r}")
    if parts.path not in ("", "/"):
        raise UserError(f"datasource.web_server_location must not have a path: {location!r}")
    try:
        port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UserError(f"datasource.web_server_location has a bad port: {location!r}") from None
    return {"host": parts.hostname, "port": str(port), "_scheme": parts.scheme}


def has_media(folder: Path) -> bool:
    """Whether ``folder`` holds at least one image or video, at any depth (Lightly's check)."""
    extensions = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
    for _, _, files in os.walk(folder):
        if any(os.path.splitext(name)[1].lower() in extensions for name in files):
            return True
    return False


def _folder(name: str, value: str) -> Path:
    if not value:
        raise UserError(f"{name} is required (lightly-serve input_mount=DIR lightly_mount=DIR)")
    path = Path(value).expanduser()
    if not path.exists():
        raise UserError(f"{name} '{value}' does not exist")
    if not path.is_dir():
        raise UserError(f"{name} '{value}' is not a directory")
    return path


def validate(values: dict[str, str]) -> ServeArgs:
    """Check the arguments as Lightly does, plus port, TLS files and flags.

    Raises:
        UserError: the first problem.
    """
    input_mount = _folder("input_mount", values["input_mount"])
    lightly_mount = _folder("lightly_mount", values["lightly_mount"])
    if not has_media(input_mount):
        raise UserError(
            f"input_mount '{values['input_mount']}' contains no image or video file "
            "(is it the folder mounted as /input_mount for the run?)"
        )
    try:
        port = int(values["port"])
    except ValueError:
        raise UserError(f"port must be a number, got '{values['port']}'") from None
    if not 0 <= port <= 65535:
        raise UserError(f"port must be between 0 and 65535, got {port}")
    if values["ssl_key"] and not values["ssl_cert"]:
        raise UserError("ssl_key needs ssl_cert (the certificate)")
    for name in ("ssl_cert", "ssl_key"):
        if values[name] and not Path(values[name]).is_file():
            raise UserError(f"{name} '{values[name]}' is not a file")
    if values.get("_scheme") == "https" and not values["ssl_cert"]:
        raise UserError("web_server_location is https:// but no ssl_cert=/ssl_key= were given")
    flag = values["log_requests"].lower()
    if flag not in ("true", "false", "1", "0", "yes", "no"):
        raise UserError(f"log_requests must be true or false, got '{values['log_requests']}'")
    return ServeArgs(
        input_mount,
        lightly_mount,
        values["host"] or "localhost",
        port,
        values["ssl_cert"],
        values["ssl_key"],
        flag in ("true", "1", "yes"),
    )


def parse_args(argv: Sequence[str]) -> ServeArgs:
    """argv -> validated arguments (``+dataset`` settings first, explicit keys win).

    Raises:
        UserError: the first problem, as one line.
    """
    values, dataset, overrides = split_tokens(argv)
    base = dict(DEFAULTS)
    if dataset is not None:
        base.update(dataset_settings(dataset, overrides))
    base.update(values)
    return validate(base)


def build_server(args: ServeArgs) -> LightlyServer:
    """Bind the server (with viewer, and TLS when a certificate is given).

    Raises:
        UserError: unusable certificate, or the address cannot be bound.
    """
    from runner.serve.network import make_ssl_context
    from runner.serve.server import LightlyServer
    from runner.serve.viewer import Viewer

    roots = Roots.resolve(args.input_mount, args.lightly_mount)
    context = None
    if args.ssl_cert:
        try:
            context = make_ssl_context(args.ssl_cert, args.ssl_key or None)
        except (ssl.SSLError, OSError) as err:
            raise UserError(f"cannot use ssl_cert/ssl_key: {err}") from None
    try:
        return LightlyServer(
            (args.host, args.port),
            roots,
            viewer=Viewer(roots),
            ssl_context=context,
            log_requests=args.log_requests,
        )
    except OSError as err:
        raise UserError(
            f"cannot listen on {args.host}:{args.port}: {err.strerror or err}"
        ) from None


def banner(server: LightlyServer, args: ServeArgs) -> str:
    """What the user sees at start: the URL, the folders in lookup order, the viewer."""
    url = server.url(args.host)
    return "\n".join(
        [
            f"lightly-serve: serving {url}",
            f"  input_mount    {server.roots.input}  (looked up first)",
            f"  lightly_mount  {server.roots.lightly}",
            f"  viewer         {url}/_lightly/",
            "Stop with Ctrl+C.",
        ]
    )


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    """Console script ``lightly-serve``."""
    from runner.serve.network import is_local_host

    tokens = list(sys.argv[1:] if argv is None else argv)
    if any(token in ("-h", "--help") for token in tokens):
        print(USAGE)
        return
    try:
        args = parse_args(tokens)
        server = build_server(args)
    except UserError as err:
        fail(str(err))
    if not is_local_host(args.host):
        print(
            f"lightly-serve: warning: listening on {args.host}: anyone who can reach this "
            f"machine on port {server.server_address[1]} can read every file below both "
            "mounts (there is no authentication)",
            file=sys.stderr,
        )
    print(banner(server, args), flush=True)
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("lightly-serve: stopped", flush=True)


if __name__ == "__main__":
    main()
