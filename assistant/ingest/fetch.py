"""Polite HTTP for feeds and article pages: one `Fetcher` per run.

What it guarantees: only http(s) URLs are requested (a `file:` or any other scheme,
given or reached by a redirect, is refused); every request has a timeout, a size
limit and a User-Agent naming the product; redirects are followed by hand, at most
`max_redirects`, and a loop is named as one; robots.txt is read once per site and
obeyed; requests to one host go one at a time; a conditional GET (ETag /
Last-Modified) answers "not modified" without a body; with `allow_private=False` (the
web server's fetches) no request goes to an address that is not globally routable
(`check_public` before each request, and `_pinned_transport` at each connection, which
connects to the very address it checked, so DNS rebinding cannot slip one past). Every
failure is an `IngestError` whose one line starts with the URL.
What the bytes mean (feed, page) is `feeds.py`'s and `extract.py`'s business; deciding
what to fetch is `follow.py`'s.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from ..base.errors import IngestError

#: The User-Agent: the product's name, so a site's operator knows who reads it.
USER_AGENT = "news-assistant/0.2 (feed reader; follows robots.txt)"
#: Content types a page or feed may have; anything else (images, PDF, archives) is refused.
_TEXTUAL = ("text/", "application/xml", "application/rss", "application/atom", "+xml", "json")
_ROBOTS_LIMIT = 500_000


@dataclass(frozen=True)
class Fetched:
    """One answer: `url` is where the content was finally found (after redirects)."""

    url: str
    status: int
    content: bytes = b""
    content_type: str = ""
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def check_scheme(url: str) -> None:
    """Refuse anything but an absolute http(s) URL (no file:, ftp:, data:, javascript:)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise IngestError(f"{url}: only http and https URLs are fetched")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise IngestError(f"{url}: not a valid URL (bad port)") from None


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_public(url: str, *, named: str = "") -> None:
    """Refuse `url` unless every address its host resolves to is globally routable.

    Loopback, private, link-local (169.254.169.254, the cloud metadata service), shared,
    reserved and unspecified addresses are all refused, an IPv4-mapped IPv6 address as its
    IPv4 address; an IP-literal host is checked without DNS. `named` is the URL the
    message starts with when `url` was reached from it (a redirect, robots.txt).

    This check answers before anything is asked (robots.txt included) and is all a
    caller-supplied transport gets. The connection resolves the host again, so a name whose
    answer changes in between (DNS rebinding) is caught there: `_pinned_transport` applies
    the same rule to what it resolves and connects only to an address that passed.
    """
    host = urlsplit(url).hostname or ""
    try:
        addresses = _resolve(host)
    except (OSError, UnicodeError) as exc:
        raise IngestError(
            f"{named or url}: could not fetch ({host}: {type(exc).__name__}: {exc})"
        ) from None
    refused = _not_public(addresses)
    if refused is not None:
        raise _refusal(url, named, host, refused)


def is_public_address(address: IPAddress) -> bool:
    """The guard's rule for one address (already IPv4 when it was IPv4-mapped)."""
    return address.is_global


def _resolve(host: str) -> list[IPAddress]:
    """The addresses a connection to `host` could reach: an IP literal is itself."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:  # a name: what DNS answers now
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        return [ipaddress.ip_address(str(info[4][0])) for info in found]


def _not_public(addresses: list[IPAddress]) -> IPAddress | None:
    """The first address the guard refuses, or None when all of them may be reached."""
    for address in addresses:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if not is_public_address(address):
            return address
    return None


def _refusal(url: str, named: str, host: str, address: IPAddress) -> IngestError:
    head = f"{named}: refused {url}," if named and named != url else f"{url}: refused,"
    return IngestError(
        f"{head} {host} is not a public address ({address}); "
        "ASSISTANT_WEB_FETCH_PRIVATE=true lets the web server fetch it"
    )


class _Refused(Exception):
    """Raised by a connection whose host resolved to a refused address; it carries no URL
    (httpcore knows only host and port), so the `Fetcher` turns it into `check_public`'s
    one line."""

    def __init__(self, host: str, address: IPAddress) -> None:
        super().__init__(f"{host} is not a public address ({address})")
        self.host = host
        self.address = address

    def line(self, url: str, *, named: str) -> IngestError:
        return _refusal(url, named, self.host, self.address)


def _pinned_transport() -> Any:
    """httpx's own transport whose connections go only to addresses the guard checked
    (`_pinned_backend`). TLS is started by httpcore after the connect with the name as
    server_hostname, so SNI and the certificate check use the name, and the Host header
    comes from the URL. No proxy is used: passing a transport turns httpx's environment
    proxies off, and a proxy would resolve the name itself.
    """
    import httpcore
    import httpx

    transport = httpx.HTTPTransport()
    # HTTPTransport takes no network backend (httpcore's extension point), so its pool is
    # rebuilt with one and httpx's defaults; requests, streams and errors stay httpx's.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),  # certifi, or SSL_CERT_FILE / SSL_CERT_DIR
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=_pinned_backend(),
    )
    return transport


def _pinned_backend() -> Any:
    """httpcore's socket backend, except that it resolves the host name it is handed once,
    refuses it by `check_public`'s rule and connects to an address that passed: no second
    lookup can answer something else (DNS rebinding)."""
    import httpcore

    class PinnedBackend(httpcore.SyncBackend):
        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Iterable[Any] | None = None,
        ) -> httpcore.NetworkStream:
            try:
                addresses = _resolve(host)
            except (OSError, UnicodeError) as exc:  # as the stock backend reports it
                raise httpcore.ConnectError(str(exc)) from None
            refused = _not_public(addresses)
            if refused is not None:
                raise _Refused(host, refused)
            connect = super().connect_tcp  # given an IP literal it does no DNS lookup
            failure = httpcore.ConnectError(f"{host}: no address")
            for address in addresses:  # each in turn, as socket.create_connection does
                try:
                    return connect(str(address), port, timeout, local_address, socket_options)
                except httpcore.ConnectError as exc:
                    failure = exc
            raise failure

    return PinnedBackend()


class Fetcher:
    """An HTTP client with the product's manners; safe to share between threads."""

    def __init__(
        self,
        *,
        timeout: float,
        max_bytes: int,
        max_redirects: int = 5,
        user_agent: str = USER_AGENT,
        transport: Any = None,
        allow_private: bool = True,
    ) -> None:
        import httpx

        # False for what a web reader makes the server fetch: see `check_public`.
        self.allow_private = allow_private
        if transport is None and not allow_private:
            transport = _pinned_transport()  # the connect-time check (DNS rebinding)
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": user_agent},
            transport=transport,
        )
        self._guard = threading.Lock()
        self._hosts: dict[str, threading.Lock] = {}
        self._robots: dict[str, RobotFileParser | None] = {}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get(self, url: str, *, etag: str = "", last_modified: str = "") -> Fetched:
        """GET `url` (following bounded redirects); raises IngestError naming `url`."""
        check_scheme(url)
        seen = {url}
        current = url
        for _ in range(self.max_redirects + 1):
            self._check_public(current, named=url)
            self._check_robots(url, current)
            answer = self._once(url, current, etag=etag, last_modified=last_modified)
            if isinstance(answer, Fetched):
                return answer
            target = urljoin(current, answer)
            try:
                check_scheme(target)
            except IngestError:
                raise IngestError(
                    f"{url}: redirected to a non-http(s) URL ({target}), refused"
                ) from None
            if target in seen:
                raise IngestError(f"{url}: redirect loop (back to {target})")
            seen.add(target)
            current = target
        raise IngestError(f"{url}: more than {self.max_redirects} redirects")

    def _once(self, url: str, current: str, *, etag: str, last_modified: str) -> Fetched | str:
        """One request: the answer, or the Location a redirect points to."""
        import httpx

        headers = {"Accept-Encoding": "gzip, deflate"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            with (
                self._host_lock(current),
                self._client.stream("GET", current, headers=headers) as response,
            ):
                if response.is_redirect and response.headers.get("location"):
                    return str(response.headers["location"])
                if response.status_code == 304:
                    return Fetched(current, 304, etag=etag, last_modified=last_modified)
                if response.status_code >= 400:
                    reason = response.reason_phrase
                    raise IngestError(f"{url}: HTTP {response.status_code} {reason}".rstrip())
                content_type = response.headers.get("content-type", "").lower()
                if content_type and not any(kind in content_type for kind in _TEXTUAL):
                    kind = content_type.split(";")[0]
                    raise IngestError(f"{url}: not a page or feed ({kind}), skipped")
                content = self._read(url, response)
                return Fetched(
                    str(response.url),
                    response.status_code,
                    content,
                    content_type,
                    response.headers.get("etag", ""),
                    response.headers.get("last-modified", ""),
                )
        except _Refused as refused:
            raise refused.line(current, named=url) from None
        except httpx.TimeoutException:
            raise IngestError(f"{url}: timed out (ASSISTANT_FETCH_TIMEOUT)") from None
        except httpx.InvalidURL as exc:
            raise IngestError(f"{url}: not a valid URL ({exc})") from None
        except httpx.HTTPError as exc:
            raise IngestError(f"{url}: could not fetch ({type(exc).__name__}: {exc})") from None

    def _read(self, url: str, response: Any) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise IngestError(f"{url}: skipped, larger than {self.max_bytes / 1e6:g} MB")
        data = bytearray()
        for part in response.iter_bytes():
            data += part
            if len(data) > self.max_bytes:
                raise IngestError(f"{url}: skipped, larger than {self.max_bytes / 1e6:g} MB")
        return bytes(data)

    def _check_public(self, url: str, *, named: str) -> None:
        # Before the request: refuses without asking anything (robots.txt included) and
        # guards a supplied transport; the pinned transport checks again as it connects.
        if not self.allow_private:
            check_public(url, named=named)

    def _host_lock(self, url: str) -> threading.Lock:
        host = urlsplit(url).netloc.lower()
        with self._guard:
            return self._hosts.setdefault(host, threading.Lock())

    # --- robots.txt ------------------------------------------------------------------
    def _check_robots(self, url: str, current: str) -> None:
        rules = self._rules(url, current)
        if rules is not None and not rules.can_fetch(self.user_agent, current):
            raise IngestError(f"{url}: refused by the site's robots.txt")

    def _rules(self, url: str, current: str) -> RobotFileParser | None:
        parts = urlsplit(current)
        site = f"{parts.scheme}://{parts.netloc}".lower()
        with self._guard:
            if site in self._robots:
                return self._robots[site]
        rules = self._load_robots(url, site)
        with self._guard:
            self._robots[site] = rules
        return rules

    def _load_robots(self, url: str, site: str) -> RobotFileParser | None:
        """The site's rules; None (everything allowed) when it has none or cannot say.
        Its redirects are followed by hand so that each hop is checked like a page's."""
        import httpx

        target = f"{site}/robots.txt"
        data = bytearray()
        try:
            for _ in range(self.max_redirects + 1):
                self._check_public(target, named=url)
                with (
                    self._host_lock(target),
                    self._client.stream("GET", target) as response,
                ):
                    location = response.headers.get("location")
                    if response.is_redirect and location:
                        target = urljoin(target, location)
                        if urlsplit(target).scheme.lower() not in {"http", "https"}:
                            return None
                        continue
                    if response.status_code != 200:
                        return None
                    for part in response.iter_bytes():
                        data += part
                        if len(data) > _ROBOTS_LIMIT:
                            return None
                    break
            else:
                return None  # too many redirects: no rules to read
        except _Refused as refused:  # refused like a page: the reader hears why
            raise refused.line(target, named=url) from None
        except (httpx.HTTPError, httpx.InvalidURL):
            return None
        rules = RobotFileParser()
        rules.parse(bytes(data).decode("utf-8", "replace").splitlines())
        return rules
