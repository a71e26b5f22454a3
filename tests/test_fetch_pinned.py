"""DNS rebinding: with `allow_private=False` a connection goes to the address that was checked.

A hostile DNS server can answer a public address while the guard checks a name and a
loopback address when the connection looks it up again. Here real HTTP servers listen on
loopback and `socket.getaddrinfo` plays that DNS server for one made-up name; every other
host (the IP literals the connection itself asks about) resolves as usual.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from assistant.base.errors import IngestError
from assistant.ingest import fetch
from assistant.ingest.feeds import parse_feed
from assistant.ingest.fetch import Fetcher

NAME = "rebind.example"  # the attacker's name
PUBLIC = "93.184.216.34"  # a globally routable address (example.com's), never connected to
VICTIM = "127.0.0.1"  # what the name turns into: a service only the server itself can reach
DECOY = "127.0.0.2"  # a loopback address a test lets the guard count as public
FEED = (
    b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
    b"<title>Decoy News</title><link>https://rebind.example/</link><description>d</description>"
    b"<item><title>Harbour reopens</title><link>https://rebind.example/harbour</link>"
    b"<pubDate>Tue, 04 Mar 2025 07:30:00 GMT</pubDate></item></channel></rss>"
)


@dataclass
class Server:
    """A loopback HTTP server answering /feed.xml (404 elsewhere); lists what it was asked:
    (path, Host header) per request."""

    address: str
    port: int = 0
    asked: list[tuple[str, str]] = field(default_factory=list)


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, *_args: object) -> None:  # a client that hung up
        pass


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.asked.append((self.path, self.headers.get("Host", "")))
            if self.path != "/feed.xml":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(FEED)))
            self.end_headers()
            self.wfile.write(FEED)

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


def _start(server: Server, tls: ssl.SSLContext | None = None) -> _Quiet:
    httpd = _Quiet((server.address, server.port), _handler(server))
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    server.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd


@pytest.fixture
def victim() -> Iterator[Server]:
    server = Server(VICTIM)
    httpd = _start(server)
    yield server
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def decoy(victim: Server) -> Iterator[Server]:
    """The "public" server, on the victim's port so that one URL can reach either."""
    server = Server(DECOY, victim.port)
    httpd = _start(server)
    yield server
    httpd.shutdown()
    httpd.server_close()


def rebinding_dns(monkeypatch: pytest.MonkeyPatch, first: str, then: str, honest: int) -> None:
    """NAME resolves to `first` for its first `honest` lookups and to `then` ever after
    (a TTL of zero); any other host resolves for real."""
    real = socket.getaddrinfo
    lookups = 0

    def answer(host: str, port: Any, *args: Any, **kw: Any) -> list[Any]:
        nonlocal lookups
        if host != NAME:
            return real(host, port, *args, **kw)
        lookups += 1
        address = first if lookups <= honest else then
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", answer)


def count_decoy_as_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard's own rule, with DECOY allowed: every other address is judged as always."""
    rule = fetch.is_public_address
    decoy = ipaddress.ip_address(DECOY)
    monkeypatch.setattr(fetch, "is_public_address", lambda a: a == decoy or rule(a))


def guarded(**kw: Any) -> Fetcher:
    return Fetcher(timeout=3, max_bytes=100_000, allow_private=False, **kw)


def assert_refused(message: str, url: str) -> None:
    assert message.startswith(f"{url}: refused") and "\n" not in message
    assert f"{NAME} is not a public address ({VICTIM})" in message
    assert "ASSISTANT_WEB_FETCH_PRIVATE=true" in message


# honest=1: the check of robots.txt already sees loopback (refused before this change too);
# honest=2: both checks (the feed's and robots.txt's) see the public address and only the
# connection gets loopback, which is what reached the loopback server before this change.
@pytest.mark.parametrize("honest", [1, 2])
def test_a_name_rebound_to_loopback_after_its_check_never_reaches_loopback(
    honest: int, victim: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    rebinding_dns(monkeypatch, PUBLIC, VICTIM, honest)
    url = f"http://{NAME}:{victim.port}/feed.xml"
    with guarded() as fetcher, pytest.raises(IngestError) as caught:
        fetcher.get(url)
    assert_refused(str(caught.value), url)
    assert victim.asked == [], "the loopback server was never asked, not even for robots.txt"


@pytest.mark.parametrize("honest", range(7))
def test_whenever_the_answer_flips_only_an_address_that_passed_is_connected_to(
    honest: int, victim: Server, decoy: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    count_decoy_as_public(monkeypatch)
    rebinding_dns(monkeypatch, DECOY, VICTIM, honest)
    url = f"http://{NAME}:{victim.port}/feed.xml"
    with guarded() as fetcher:
        try:
            fetched = fetcher.get(url)
        except IngestError as refused:
            assert_refused(str(refused), url)
        else:  # every lookup that mattered was honest: the decoy's feed
            assert fetched.content == FEED
    assert victim.asked == []


def test_a_public_feed_is_fetched_through_the_checked_connection_with_its_name(
    decoy: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    count_decoy_as_public(monkeypatch)
    rebinding_dns(monkeypatch, DECOY, DECOY, honest=0)
    url = f"http://{NAME}:{decoy.port}/feed.xml"
    with guarded() as fetcher:
        fetched = fetcher.get(url)
    feed = parse_feed(fetched.content, fetched.url)
    assert fetched.url == url and feed is not None
    assert [item.title for item in feed.items] == ["Harbour reopens"]
    host = f"{NAME}:{decoy.port}"
    assert decoy.asked == [("/robots.txt", host), ("/feed.xml", host)]


def test_without_the_guard_the_feed_comes_as_before(
    victim: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    rebinding_dns(monkeypatch, VICTIM, VICTIM, honest=0)
    url = f"http://{NAME}:{victim.port}/feed.xml"
    with Fetcher(timeout=3, max_bytes=100_000, allow_private=True) as fetcher:
        assert fetcher.get(url).content == FEED


# --- TLS: the certificate is checked against the name, not the address connected to -----
def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` and its key, made by the openssl command."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", f"/CN={name}", "-addext",
         f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_decoy(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Server, Path]]:
    """The decoy over https with a certificate for the name the test asks for; the
    certificate's file is what the client trusts."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = _certificate(tmp_path, request.param)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Server(DECOY)
    httpd = _start(server, tls=context)
    yield server, cert
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("tls_decoy", [NAME], indirect=True)
def test_https_verifies_the_certificate_against_the_name(
    tls_decoy: tuple[Server, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, cert = tls_decoy
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # httpx trusts it (its trust_env)
    count_decoy_as_public(monkeypatch)
    rebinding_dns(monkeypatch, DECOY, DECOY, honest=0)
    url = f"https://{NAME}:{server.port}/feed.xml"
    with guarded() as fetcher:
        assert fetcher.get(url).content == FEED
    assert server.asked[-1] == ("/feed.xml", f"{NAME}:{server.port}")


@pytest.mark.parametrize("tls_decoy", ["other.example"], indirect=True)
def test_https_refuses_a_certificate_for_another_name(
    tls_decoy: tuple[Server, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, cert = tls_decoy
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    count_decoy_as_public(monkeypatch)
    rebinding_dns(monkeypatch, DECOY, DECOY, honest=0)
    url = f"https://{NAME}:{server.port}/feed.xml"
    with guarded() as fetcher, pytest.raises(IngestError, match="could not fetch") as caught:
        fetcher.get(url)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) and server.asked == []
