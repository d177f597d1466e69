"""The stdlib HTTP server: contained, read-only, CORS-friendly, TLS on request.

One :class:`LightlyServer` (a ``ThreadingHTTPServer``, daemon threads, a deep accept backlog
for browsers that open many connections at once) answers ``GET``, ``HEAD`` and ``OPTIONS``.
Every response carries CORS headers; errors carry no-store headers; files over 256 KiB are
streamed with ``socket.sendfile`` (zero-copy without TLS, chunked with it), never read whole.
With TLS the handshake happens in the connection's own thread, so one slow client cannot stall
``accept`` (the context comes from :func:`runner.serve.network.make_ssl_context`).
"""

from __future__ import annotations

import os
import socket
import socketserver
import ssl
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from runner.serve.files import ERROR_CACHE_HEADERS, plan_file
from runner.serve.paths import Roots, map_url_path, request_path
from runner.serve.viewer import RAW_PREFIX, VIEWER_PREFIX, Response, Viewer

ALLOWED_METHODS = "GET, HEAD, OPTIONS"
CORS_HEADERS: tuple[tuple[str, str], ...] = (
    ("Access-Control-Allow-Origin", "*"),
    (
        "Access-Control-Expose-Headers",
        "Accept-Ranges, Content-Length, Content-Range, Content-Type, ETag, Last-Modified",
    ),
)
_DEFAULT_ALLOWED_HEADERS = "Range, If-None-Match, If-Modified-Since, If-Range, Content-Type"
HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 60.0
# Up to this size a file is sent from one buffer: cheaper than sendfile's poll set-up on a
# socket with a timeout. Larger files (and ranges) are streamed with sendfile.
SMALL_FILE_BYTES = 256 * 1024


class LightlyServeHandler(BaseHTTPRequestHandler):
    """Answers one connection: data files from the roots, or the viewer under ``/_lightly/``."""

    server: LightlyServer
    protocol_version = "HTTP/1.1"  # keep-alive: a thumbnail grid reuses a few connections
    # Headers and body are two writes; with Nagle on, keep-alive waits ~40 ms per request for the
    # client's delayed ACK.
    disable_nagle_algorithm = True
    server_version = "lightly-serve"
    timeout = IDLE_TIMEOUT_S

    def version_string(self) -> str:
        """``Server: lightly-serve`` (no Python version on the wire)."""
        return self.server_version

    def send_response(self, code: int, message: str | None = None) -> None:
        """Start a response; CORS on every one, and no-store on every error."""
        super().send_response(code, message)
        if self.close_connection:  # the client asked for it (or spoke HTTP/1.0): say so
            self.send_header("Connection", "close")
        for name, value in CORS_HEADERS:
            self.send_header(name, value)
        if code >= 400:
            for name, value in ERROR_CACHE_HEADERS:
                self.send_header(name, value)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A short plain-text error that never echoes the request."""
        self._error(code, log_detail=message)

    def _error(
        self, code: int, *, extra: tuple[tuple[str, str], ...] = (), log_detail: str | None = None
    ) -> None:
        reason = self.responses.get(code, ("Error", ""))[0]
        body = f"{code} {reason}\n".encode()
        if code >= 500 or self.server.log_requests:
            self.log_error("%d %s", code, log_detail or reason)
        self.send_response(code, reason)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(len(body)))
        if code == 405:
            self.send_header("Allow", ALLOWED_METHODS)
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet by default (a grid makes hundreds of requests); ``log_requests=true`` logs."""
        if self.server.log_requests:
            super().log_message(format, *args)

    def log_error(self, format: str, *args: Any) -> None:
        """Errors always reach stderr (server faults matter even when requests are quiet)."""
        BaseHTTPRequestHandler.log_message(self, format, *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Access log line, only with ``log_requests=true``."""
        if self.server.log_requests:
            super().log_request(code, size)

    def do_OPTIONS(self) -> None:
        """CORS preflight, including Chrome's Private Network Access."""
        requested = self.headers.get("Access-Control-Request-Headers", "")
        allowed = (
            requested
            if requested.replace(",", "").replace("-", "").replace(" ", "").isalnum()
            else _DEFAULT_ALLOWED_HEADERS
        )
        self.send_response(204)
        self.send_header("Access-Control-Allow-Methods", ALLOWED_METHODS)
        self.send_header("Access-Control-Allow-Headers", allowed or _DEFAULT_ALLOWED_HEADERS)
        self.send_header("Access-Control-Allow-Private-Network", "true")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        """Serve a file or a viewer page/API answer."""
        self._answer(head=False)

    def do_HEAD(self) -> None:
        """Like GET, without a body."""
        self._answer(head=True)

    def _refuse_method(self) -> None:
        self.send_error(405)

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse_method

    def _answer(self, *, head: bool) -> None:
        target = self.path
        path = request_path(target)
        if path in ("/", VIEWER_PREFIX.rstrip("/")) and self.server.viewer is not None:
            self._send(Response.redirect(VIEWER_PREFIX), head=head)
            return
        if path.startswith(RAW_PREFIX):
            path = path[len(RAW_PREFIX) - 1 :]
        elif path.startswith(VIEWER_PREFIX) and self.server.viewer is not None:
            query = target.split("#", 1)[0].partition("?")[2]
            response = self.server.viewer.respond(path, query)
            if response is not None:
                self._send(response, head=head)
                return
        found = map_url_path(path, self.server.roots)
        if found is None:
            self.send_error(404)
            return
        self._send_file(found, head=head)

    def _send(self, response: Response, *, head: bool) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def _send_file(self, path: Path, *, head: bool) -> None:
        try:
            # O_NOFOLLOW: the path was resolved; a symlink swapped in since then is refused.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            self.send_error(404)
            return
        with os.fdopen(fd, "rb") as handle:
            # Header names are case-insensitive: normalise them for the plain-dict lookups.
            headers = {name.title(): value for name, value in self.headers.items()}
            plan = plan_file(path.name, os.fstat(fd), headers)
            if plan.status == 416:
                self._error(416, extra=tuple(plan.headers))
                return
            self.send_response(plan.status)
            for name, value in plan.headers:
                self.send_header(name, value)
            self.end_headers()
            if head or plan.length == 0:
                return
            try:
                if plan.length <= SMALL_FILE_BYTES:  # thumbnails: one read, one write
                    handle.seek(plan.offset)
                    self.wfile.write(handle.read(plan.length))
                else:  # videos, big images: zero-copy, never in memory
                    self.connection.sendfile(handle, plan.offset, plan.length)
            except (BrokenPipeError, ConnectionResetError, TimeoutError, ssl.SSLError):
                self.close_connection = True  # the client went away mid-file (video seeking)


class LightlyServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` over two roots, with an optional viewer and TLS.

    Attributes:
        roots: The served folders.
        viewer: The viewer under ``/_lightly/`` (``None``: data only).
        ssl_context: Wraps each accepted connection when set.
        log_requests: Print an access log line per request.
    """

    daemon_threads = True  # a hung client never blocks interpreter exit
    block_on_close = False
    request_queue_size = 128  # browsers open many connections at once; 5 (the default) drops

    def __init__(
        self,
        address: tuple[str, int],
        roots: Roots,
        *,
        viewer: Viewer | None = None,
        ssl_context: ssl.SSLContext | None = None,
        log_requests: bool = False,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.roots = roots
        self.viewer = viewer
        self.ssl_context = ssl_context
        self.log_requests = log_requests
        super().__init__(address, LightlyServeHandler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse-DNS lookup (slow or hanging offline)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    @property
    def scheme(self) -> str:
        """``https`` with TLS, else ``http``."""
        return "https" if self.ssl_context is not None else "http"

    def url(self, host: str | None = None) -> str:
        """The base URL, e.g. ``http://localhost:3456`` (``host`` defaults to the bound one)."""
        name = host or str(self.server_address[0])
        if ":" in name:
            name = f"[{name}]"
        return f"{self.scheme}://{name}:{self.server_address[1]}"

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Run the handler, after a TLS handshake in this connection's own thread."""
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # plain HTTP to a TLS port, a port scan, or a client that gave up
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped connections are routine for a file server; other faults are printed."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


@contextmanager
def running_server(
    roots: Roots,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    viewer: Viewer | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[LightlyServer]:
    """Serve in a background thread (tests, benchmarks); shut down cleanly on exit.

    Args:
        roots: The served folders.
        host: Address to bind.
        port: Port to bind (0: any free port; read it from ``server.server_address``).
        viewer: Optional viewer.
        ssl_context: Optional TLS context.

    Yields:
        The started server.
    """
    server = LightlyServer((host, port), roots, viewer=viewer, ssl_context=ssl_context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
