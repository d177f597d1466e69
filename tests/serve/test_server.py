"""``lightly-serve``'s server over real HTTP on loopback: containment, HTTP semantics, load, TLS."""

from __future__ import annotations

import http.client
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from runner.serve.files import parse_range
from runner.serve.network import make_ssl_context
from runner.serve.paths import Roots
from runner.serve.server import LightlyServer, running_server
from runner.serve.viewer import Viewer

SECRET = b"TOP SECRET: outside both roots"
UNICODE_NAME = "ünïcödé ✓ 写真.png"


@dataclass(frozen=True)
class Tree:
    root: Path
    roots: Roots
    video: bytes
    png: bytes


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def request(
    server: LightlyServer,
    target: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> Reply:
    """Send ``target`` byte for byte (http.client does not normalise paths)."""
    host, port = "127.0.0.1", server.server_address[1]
    conn = (
        http.client.HTTPSConnection(host, port, timeout=10, context=context)
        if context
        else http.client.HTTPConnection(host, port, timeout=10)
    )
    try:
        conn.request(method, target, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    """Two roots beside a secret, with symlinks, odd names and a same-named file in both."""
    base = tmp_path_factory.mktemp("serve")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    inp, lig = base / "input", base / "lightly"
    (inp / "cam1" / "sub").mkdir(parents=True)
    (lig / "cam1" / ".lightly" / "thumbnails").mkdir(parents=True)
    png = bytes(range(256)) * 40
    video = bytes((i * 7) % 251 for i in range(3 * 1024 * 1024 + 17))  # 3 MiB + 17, not aligned
    (inp / "cam1" / "a.png").write_bytes(png)
    (inp / "cam1" / "with space (1).png").write_bytes(png[:100])
    (inp / "cam1" / UNICODE_NAME).write_bytes(png[:200])
    (inp / "cam1" / "clip.mp4").write_bytes(video)
    (inp / "cam1" / "pic.webp").write_bytes(b"RIFF....WEBP")
    (inp / "cam1" / "sub" / "index.html").write_text("<script>alert(1)</script>")
    (inp / "shared.txt").write_text("from input")
    (lig / "shared.txt").write_text("from lightly")
    (lig / "only_lightly.txt").write_text("only in lightly")
    (lig / "cam1" / ".lightly" / "thumbnails" / "a_thumb.png").write_bytes(png[:50])
    (inp / "link_inside.png").symlink_to(inp / "cam1" / "a.png")
    (inp / "link_outside.txt").symlink_to(outside / "secret.txt")
    (inp / "dirlink").symlink_to(outside, target_is_directory=True)
    (inp / "alias").symlink_to(inp / "cam1", target_is_directory=True)
    (inp / "chain.txt").symlink_to(inp / "link_outside.txt")
    (inp / "_lightly").mkdir()
    (inp / "_lightly" / "data.txt").write_text("data under the viewer prefix")
    (inp / "_lightly" / "api").mkdir()
    (inp / "_lightly" / "api" / "runs").write_text("a data file shadowed by the API")
    return Tree(base, Roots.resolve(inp, lig), video, png)


@pytest.fixture(scope="module")
def server(tree: Tree) -> Iterator[LightlyServer]:
    with running_server(tree.roots, viewer=Viewer(tree.roots)) as srv:
        yield srv


TRAVERSALS = [
    "/../outside/secret.txt",
    "/cam1/../../outside/secret.txt",
    "/%2e%2e/outside/secret.txt",
    "/%2E%2E/outside/secret.txt",
    "/.%2e/outside/secret.txt",
    "/cam1/%2e%2e/%2e%2e/outside/secret.txt",
    "/%2e%2e%2foutside%2fsecret.txt",
    "/..%2Foutside%2Fsecret.txt",
    "/..%5coutside%5csecret.txt",
    "/..\\outside\\secret.txt",
    "/cam1\\..\\..\\outside\\secret.txt",
    "/%252e%252e/outside/secret.txt",
    "//etc/passwd",
    "/%2fetc%2fpasswd",
    "/./shared.txt",
    "/cam1//a.png",
    "/cam1/a.png%00.txt",
    "/cam1/a.png%00",
    "/link_outside.txt",
    "/dirlink/secret.txt",
    "/chain.txt",
    "/_lightly/raw/../outside/secret.txt",
    "/_lightly/raw/%2e%2e/outside/secret.txt",
    "http://127.0.0.1/../outside/secret.txt",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_and_odd_paths_get_404(server: LightlyServer, target: str) -> None:
    reply = request(server, target)
    assert reply.status == 404
    assert SECRET not in reply.body


def test_absolute_path_to_the_secret_gets_404(server: LightlyServer, tree: Tree) -> None:
    target = "/" + quote(str(tree.root / "outside" / "secret.txt"))  # "//tmp/.../secret.txt"
    reply = request(server, target)
    assert reply.status == 404 and SECRET not in reply.body


def test_the_secret_is_reachable_when_inside_a_root(tree: Tree, tmp_path: Path) -> None:
    """Control: the traversal tests would see the secret's bytes if it were served."""
    inp = tmp_path / "in"
    shutil.copytree(tree.root / "outside", inp / "outside")
    with running_server(Roots.resolve(inp, tree.roots.lightly)) as srv:
        assert request(srv, "/outside/secret.txt").body == SECRET


def test_file_is_served_with_type_length_and_validators(server: LightlyServer, tree: Tree) -> None:
    reply = request(server, "/cam1/a.png")
    assert reply.status == 200 and reply.body == tree.png
    assert reply.headers["Content-Type"] == "image/png"
    assert reply.headers["Content-Length"] == str(len(tree.png))
    assert reply.headers["ETag"].startswith('"') and reply.headers["Last-Modified"].endswith("GMT")
    assert reply.headers["Accept-Ranges"] == "bytes"
    # Lightly's lightly-serve headers, byte for byte
    assert reply.headers["Cache-Control"] == "no-store, must-revalidate, no-cache, max-age=-1"
    assert reply.headers["Expires"] == "0"
    assert reply.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/cam1/clip.mp4", "video/mp4"),
        ("/shared.txt", "text/plain; charset=utf-8"),
        ("/cam1/pic.webp", "image/webp"),
        ("/cam1/sub/index.html", "text/html; charset=utf-8"),
    ],
)
def test_content_types(server: LightlyServer, target: str, expected: str) -> None:
    reply = request(server, target)
    assert reply.status == 200 and reply.headers["Content-Type"] == expected


def test_html_data_is_sandboxed(server: LightlyServer) -> None:
    reply = request(server, "/cam1/sub/index.html")
    assert reply.headers["Content-Security-Policy"] == "sandbox"
    assert "Content-Security-Policy" not in request(server, "/cam1/a.png").headers


@pytest.mark.parametrize("suffix", ["?x=1", "?x=1&y=%2e%2e/../z", "#fragment", "?"])
def test_query_string_and_fragment_are_ignored(
    server: LightlyServer, tree: Tree, suffix: str
) -> None:
    reply = request(server, "/cam1/a.png" + suffix)
    assert reply.status == 200 and reply.body == tree.png


@pytest.mark.parametrize(("name", "size"), [("with space (1).png", 100), (UNICODE_NAME, 200)])
def test_spaces_and_unicode_names(server: LightlyServer, name: str, size: int) -> None:
    reply = request(server, "/cam1/" + quote(name))
    assert reply.status == 200 and len(reply.body) == size


def test_head_has_headers_but_no_body(server: LightlyServer, tree: Tree) -> None:
    reply = request(server, "/cam1/clip.mp4", method="HEAD")
    assert reply.status == 200 and reply.body == b""
    assert reply.headers["Content-Length"] == str(len(tree.video))
    assert reply.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, None),
        ("bytes=-500", -500, None),
        ("bytes=3145700-99999999", 3145700, None),
        ("bytes=5-5", 5, 5),
    ],
)
def test_range_requests(
    server: LightlyServer, tree: Tree, header: str, first: int, last: int | None
) -> None:
    size = len(tree.video)
    reply = request(server, "/cam1/clip.mp4", headers={"Range": header})
    expected = tree.video[first : None if last is None else last + 1]
    start = first % size
    assert reply.status == 206
    assert reply.body == expected
    assert reply.headers["Content-Range"] == f"bytes {start}-{start + len(expected) - 1}/{size}"
    assert reply.headers["Content-Length"] == str(len(expected))


@pytest.mark.parametrize("header", ["bytes=3145745-", "bytes=99999999-100000000", "bytes=-0"])
def test_unsatisfiable_range_is_416(server: LightlyServer, tree: Tree, header: str) -> None:
    reply = request(server, "/cam1/clip.mp4", headers={"Range": header})
    assert reply.status == 416
    assert reply.headers["Content-Range"] == f"bytes */{len(tree.video)}"
    assert "no-store" in reply.headers["Cache-Control"]


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-3", "bytes=x-"])
def test_ignored_ranges_give_the_whole_file(server: LightlyServer, tree: Tree, header: str) -> None:
    reply = request(server, "/cam1/a.png", headers={"Range": header})
    assert reply.status == 200 and reply.body == tree.png


def test_if_range_with_a_stale_etag_gives_the_whole_file(server: LightlyServer, tree: Tree) -> None:
    stale = request(server, "/cam1/a.png", headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status == 200 and stale.body == tree.png
    tag = request(server, "/cam1/a.png").headers["ETag"]
    fresh = request(server, "/cam1/a.png", headers={"Range": "bytes=0-9", "If-Range": tag})
    assert fresh.status == 206 and fresh.body == tree.png[:10]


def test_parse_range_rules() -> None:
    assert parse_range("bytes=0-0", 0) is not None  # empty file: unsatisfiable, not ignored
    assert parse_range("bytes=-5", 3) == (0, 2)
    assert parse_range("bytes=2-", 3) == (2, 2)
    assert parse_range("bytes=", 3) is None


def test_conditional_requests_and_fixed_files_are_seen(tree: Tree, tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    image = inp / "fix.png"
    image.write_bytes(b"broken version")
    with running_server(Roots.resolve(inp, tree.roots.lightly)) as srv:
        first = request(srv, "/fix.png")
        tag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        again = request(srv, "/fix.png", headers={"If-None-Match": tag})
        assert again.status == 304 and again.body == b"" and again.headers["ETag"] == tag
        since = request(srv, "/fix.png", headers={"If-Modified-Since": modified})
        assert since.status == 304
        other = request(srv, "/fix.png", headers={"If-None-Match": '"other"'})
        assert other.status == 200
        image.write_bytes(b"fixed version!")
        fixed = request(srv, "/fix.png", headers={"If-None-Match": tag})
        assert fixed.status == 200 and fixed.body == b"fixed version!"
        assert fixed.headers["ETag"] != tag


def test_cors_preflight_allows_private_network(server: LightlyServer) -> None:
    reply = request(
        server,
        "/cam1/a.png",
        method="OPTIONS",
        headers={
            "Origin": "https://app.lightly.ai",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in reply.headers["Access-Control-Allow-Methods"]
    assert reply.headers["Access-Control-Allow-Headers"] == "range"
    assert reply.headers["Access-Control-Allow-Private-Network"] == "true"


def test_404_is_never_cached_and_has_cors(server: LightlyServer) -> None:
    reply = request(server, "/cam1/missing.png")
    assert reply.status == 404
    assert reply.headers["Cache-Control"] == "no-store, must-revalidate, no-cache, max-age=-1"
    assert reply.headers["Expires"] == "0"
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert b"missing" not in reply.body  # the request is not echoed


def test_keep_alive_and_connection_close(server: LightlyServer, tree: Tree) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        for _ in range(3):  # one connection, several requests (a thumbnail grid)
            conn.request("GET", "/cam1/a.png")
            reply = conn.getresponse()
            assert reply.read() == tree.png and not reply.will_close
        conn.request("GET", "/shared.txt", headers={"Connection": "close"})
        reply = conn.getresponse()
        assert reply.getheader("Connection") == "close" and reply.will_close
        assert reply.read() == b"from input"
    finally:
        conn.close()


def test_write_methods_are_refused(server: LightlyServer) -> None:
    reply = request(server, "/cam1/a.png", method="POST")
    assert reply.status == 405 and "GET" in reply.headers["Allow"]
    assert request(server, "/cam1/a.png", method="DELETE").status == 405


def test_symlinks_inside_the_root_are_served(server: LightlyServer, tree: Tree) -> None:
    assert request(server, "/link_inside.png").body == tree.png
    assert request(server, "/alias/a.png").body == tree.png  # a folder symlink


def test_input_mount_wins_over_lightly_mount(server: LightlyServer) -> None:
    assert request(server, "/shared.txt").body == b"from input"
    assert request(server, "/only_lightly.txt").body == b"only in lightly"
    assert request(server, "/cam1/.lightly/thumbnails/a_thumb.png").status == 200


@pytest.mark.parametrize("target", ["/cam1", "/cam1/", "/cam1/sub/", "/dirlink/", "/_lightly/raw/"])
def test_no_directory_listing(server: LightlyServer, target: str) -> None:
    reply = request(server, target)
    assert reply.status == 404 and b"a.png" not in reply.body


def test_root_redirects_to_the_viewer(server: LightlyServer) -> None:
    reply = request(server, "/")
    assert reply.status == 302 and reply.headers["Location"] == "/_lightly/"


def test_reserved_prefix_leaves_other_data_reachable(server: LightlyServer) -> None:
    assert request(server, "/_lightly/data.txt").body == b"data under the viewer prefix"
    assert request(server, "/_lightly/api/runs").headers["Content-Type"] == "application/json"
    shadowed = request(server, "/_lightly/raw/_lightly/api/runs")
    assert shadowed.body == b"a data file shadowed by the API"
    assert request(server, "/_lightly/raw/cam1/a.png").status == 200


def test_64_concurrent_clients_without_an_error(server: LightlyServer, tree: Tree) -> None:
    targets = ["/cam1/a.png", "/cam1/" + quote(UNICODE_NAME), "/shared.txt", "/cam1/missing"]
    expected = {t: request(server, t) for t in targets}
    start = threading.Barrier(64)

    def client(i: int) -> list[str]:
        start.wait()
        problems = []
        for j in range(6):
            target = targets[(i + j) % len(targets)]
            reply = request(server, target)
            if (reply.status, reply.body) != (expected[target].status, expected[target].body):
                problems.append(f"{target}: {reply.status}")
        return problems

    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(client, range(64)))
    assert [p for problems in results for p in problems] == []


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1, made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_with_a_self_signed_certificate(tree: Tree, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with running_server(tree.roots, ssl_context=make_ssl_context(cert, key)) as srv:
        assert srv.url().startswith("https://")
        client = ssl.create_default_context(cafile=str(cert))
        reply = request(srv, "/cam1/a.png?cache=bust", context=client)
        assert reply.status == 200 and reply.body == tree.png
        ranged = request(srv, "/cam1/clip.mp4", headers={"Range": "bytes=-10"}, context=client)
        assert ranged.status == 206 and ranged.body == tree.video[-10:]
        with pytest.raises((http.client.HTTPException, OSError)):
            request(srv, "/cam1/a.png")  # plain HTTP to the TLS port gets no answer
        assert request(srv, "/shared.txt", context=client).body == b"from input"
