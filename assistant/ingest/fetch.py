"""Polite HTTP for feeds and article pages: one `Fetcher` per run.

What it guarantees: only http(s) URLs are requested (a `file:` or any other scheme,
given or reached by a redirect, is refused); every request has a timeout, a size
limit and a User-Agent naming the product; redirects are followed by hand, at most
`max_redirects`, and a loop is named as one; robots.txt is read once per site and
obeyed; requests to one host go one at a time; a conditional GET (ETag /
Last-Modified) answers "not modified" without a body; with `allow_private=False` (the
web server's fetches) no request goes to an address that is not globally routable
(`check_public`). Every failure is an `IngestError` whose one line starts with the URL.
What the bytes mean (feed, page) is `feeds.py`'s and `extract.py`'s business; deciding
what to fetch is `follow.py`'s.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
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


def check_public(url: str, *, named: str = "") -> None:
    """Refuse `url` unless every address its host resolves to is globally routable.

    Loopback, private, link-local (169.254.169.254, the cloud metadata service), shared,
    reserved and unspecified addresses are all refused, an IPv4-mapped IPv6 address as its
    IPv4 address; an IP-literal host is checked without DNS. `named` is the URL the
    message starts with when `url` was reached from it (a redirect, robots.txt).

    What it leaves out: DNS rebinding. The connection resolves the host again, so a name
    whose answer changes between this check and the connect can still reach a private
    address; a transport that connects to the very address checked here would close that.
    """
    head = f"{named}: refused {url}," if named and named != url else f"{url}: refused,"
    host = urlsplit(url).hostname or ""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:  # a name, not an address: what the connection would resolve it to
        try:
            found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise IngestError(
                f"{named or url}: could not fetch ({host}: {type(exc).__name__}: {exc})"
            ) from None
        addresses = [ipaddress.ip_address(str(info[4][0])) for info in found]
    for address in addresses:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if not address.is_global:
            raise IngestError(
                f"{head} {host} is not a public address ({address}); "
                "ASSISTANT_WEB_FETCH_PRIVATE=true lets the web server fetch it"
            )


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
        except (httpx.HTTPError, httpx.InvalidURL):
            return None
        rules = RobotFileParser()
        rules.parse(bytes(data).decode("utf-8", "replace").splitlines())
        return rules
