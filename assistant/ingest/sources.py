"""Read ingestion inputs (files, folders, URLs) into cleaned `Article`s.

Knows formats: plain text, Markdown, HTML, JSON and JSONL records, and http(s)
URLs. Each problem with one input raises `IngestError` with a one-line message
naming it, so the caller can report it and go on. Web pages (fetched or saved as
.html) go through `extract.py` (trafilatura, htmldate); URLs are fetched by
`fetch.py`. Cleaning rules live in `clean.py`; chunking and storing are `pipeline.py`'s.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..base.errors import IngestError
from ..base.schema import Article
from .clean import _title_from_body, clean_article
from .extract import extract_page
from .fetch import Fetcher

TEXT_EXTENSIONS = {".txt", ".md", ".markdown"}
HTML_EXTENSIONS = {".html", ".htm"}
JSON_EXTENSIONS = {".jsonl", ".json"}
SUPPORTED = TEXT_EXTENSIONS | HTML_EXTENSIONS | JSON_EXTENSIONS


@dataclass
class Loaded:
    """Articles read from one input, with notes (fallback decoding, bad records)."""

    articles: list[Article]
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # parts of the input that were skipped


def display(path: str | Path) -> str:
    """A path as text that can be printed and stored: a file name that is not valid UTF-8
    (Linux allows any bytes) keeps its readable part, the rest becomes U+FFFD, instead of
    the lone surrogates Python decodes it to (which no JSON, terminal or Chroma accepts)."""
    return os.fsencode(path).decode("utf-8", "replace") if isinstance(path, Path) else path


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def expand(inputs: list[str]) -> Iterator[str | Path | IngestError]:
    """Files (folders walked recursively, hidden entries skipped) and URLs, in a stable order."""
    for item in inputs:
        if is_url(item):
            yield item
            continue
        path = Path(item)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and not hidden:
                    yield child
        elif path.is_file():
            yield path
        else:
            yield IngestError(f"{display(path)}: no such file or folder")


def load(item: str | Path, *, max_bytes: int, timeout: float) -> Loaded:
    """Read one file or URL; raises IngestError naming it when nothing usable is there."""
    if isinstance(item, str):
        return _load_url(item, max_bytes=max_bytes, timeout=timeout)
    return _load_file(item, max_bytes=max_bytes)


def _load_file(path: Path, *, max_bytes: int) -> Loaded:
    name = display(path)
    suffix = display(Path(path.suffix)).lower()
    if suffix not in SUPPORTED:
        kinds = ", ".join(sorted(SUPPORTED))
        raise IngestError(
            f"{name}: unsupported file type '{suffix or display(Path(path.name))}' (use {kinds})"
        )
    size = path.stat().st_size
    if size > max_bytes:
        raise IngestError(
            f"{name}: skipped, {size / 1e6:.1f} MB exceeds the {max_bytes / 1e6:g} MB limit "
            "(ASSISTANT_MAX_FILE_MB)"
        )
    data = path.read_bytes()
    text, note = decode(data, name)
    article_id = display(Path(path.stem))
    if suffix in JSON_EXTENSIONS:
        return _records(text, path, note)
    if suffix in HTML_EXTENSIONS:
        article = from_html(text, article_id=article_id, origin=name)
    else:
        article = from_text(text, article_id=article_id, origin=name)
    return Loaded([article], warnings=[note] if note else [])


def decode(data: bytes, name: str, declared: str = "") -> tuple[str, str]:
    """Bytes to text: UTF-8; else UTF-8 with its few stray bytes replaced when the valid
    multi-byte characters outnumber them (a UTF-8 page with one bad byte stays readable);
    else the charset the page or the HTTP header declares; else cp1252, else latin-1.
    The note says when a fallback was used."""
    if not data.strip():
        raise IngestError(f"{name}: empty file")
    if b"\x00" in data[:8192]:
        raise IngestError(f"{name}: binary file (contains NUL bytes), not an article")
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError as exc:
        where = exc.start
    lenient = data.decode("utf-8-sig", "replace")
    stray = lenient.count("\ufffd")
    if sum(ord(c) > 0x7F for c in lenient) - stray > stray:
        return lenient, f"{name}: {stray} bytes not valid UTF-8 (first at byte {where}), replaced"
    for encoding in (_codec(declared or _meta_charset(data)), "cp1252", "latin-1"):
        try:
            text = data.decode(encoding) if encoding else None
        except UnicodeDecodeError:
            continue
        if text is not None:
            return text, f"{name}: not valid UTF-8 (byte {where}); decoded as {encoding}"
    raise IngestError(
        f"{name}: could not decode the text"
    )  # pragma: no cover - latin-1 decodes all


_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{2,40})""", re.I)


def _meta_charset(data: bytes) -> str:
    """The charset an HTML page declares in a `<meta>` of its first 4 KB, or ""."""
    found = _CHARSET.search(data[:4096])
    return found.group(1).decode("ascii") if found else ""


def _codec(charset: str) -> str:
    """Python's name for a declared charset other than UTF-8, or "" (unknown, or UTF-8,
    which has already failed)."""
    try:
        name = codecs.lookup(charset.strip()).name if charset.strip() else ""
    except LookupError:
        return ""
    return "" if name.startswith("utf-8") else name


def charset_of(content_type: str) -> str:
    """The `charset=` of an HTTP Content-Type, or ""."""
    found = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.I)
    return found.group(1) if found else ""


def from_text(text: str, *, article_id: str, origin: str, url: str = "") -> Article:
    meta, body = _front_matter(text)
    body = re.sub(r"^#{1,6}\s+", "", body, flags=re.M)  # Markdown headings become plain lines
    return _article(body, article_id=article_id, origin=origin, url=meta.get("url", url), meta=meta)


def _article(raw: str, *, article_id: str, origin: str, url: str, meta: dict[str, str]) -> Article:
    cleaned = clean_article(
        raw,
        title=meta.get("title", ""),
        date_hint=meta.get("date", ""),
        source=meta.get("source", ""),
        url=url,
    )
    if not cleaned.text.strip():
        raise IngestError(f"{origin}: no article text left after cleaning")
    return Article(
        id=article_id,
        title=cleaned.title,
        text=cleaned.text,
        date=cleaned.date,
        source=cleaned.source,
        url=url,
        origin=origin,
    )


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """Simple `key: value` front matter between `---` lines (Markdown exports)."""
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, flags=re.S)
    if not match:
        return {}, text
    meta: dict[str, str] = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta, text[match.end() :]


def _records(text: str, path: Path, note: str) -> Loaded:
    loaded = Loaded([], warnings=[note] if note else [])
    for where, record in _iter_records(text, path, loaded):
        try:
            loaded.articles.append(
                from_record(record, where=where, default_id=_record_id(path, where))
            )
        except IngestError as exc:
            loaded.errors.append(str(exc))
    if not loaded.articles and not loaded.errors:
        raise IngestError(f"{display(path)}: no records found")
    return loaded


def _record_id(path: Path, where: str) -> str:
    return f"{display(Path(path.stem))}-{where.rsplit(':', 1)[-1]}"


def _parse_json(text: str) -> Any:
    """`json.loads`, with nesting too deep for the parser reported like a syntax error."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None


def _iter_records(text: str, path: Path, loaded: Loaded) -> Iterator[tuple[str, Any]]:
    """(where, record) of a JSON document (a list, {"articles": [...]}, one object) or of a
    JSONL file, one line each. A .json file that does not parse as one document but
    whose first line does is read as JSONL; a bad line is named by its number and the
    rest of the file is still read."""
    name = display(path)
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    if path.suffix.lower() == ".json" or first.lstrip().startswith("["):
        try:
            data = _parse_json(text)
        except json.JSONDecodeError as exc:
            if path.suffix.lower() == ".json" and not _parses(first):
                raise IngestError(f"{name}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
        else:
            if isinstance(data, dict):
                data = data.get("articles", [data])
            for i, record in enumerate(data if isinstance(data, list) else [data], start=1):
                yield f"{name}:{i}", record
            return
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = _parse_json(line)
        except json.JSONDecodeError as exc:
            loaded.errors.append(f"{name}:{lineno}: invalid JSON ({exc.msg})")
            continue
        yield f"{name}:{lineno}", record


def _parses(line: str) -> bool:
    try:
        _parse_json(line)
    except json.JSONDecodeError:
        return False
    return bool(line.strip())


def from_record(record: Any, *, where: str, default_id: str) -> Article:
    """A JSON record with `text` and optional id, title, url, date, source."""
    if not isinstance(record, dict):
        raise IngestError(f"{where}: expected an object with a 'text' field")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise IngestError(f"{where}: record has no 'text'")
    meta = {k: str(record[k]) for k in ("title", "date", "source", "url") if record.get(k)}
    article_id = str(record.get("id") or default_id)
    return _article(text, article_id=article_id, origin=where, url=meta.get("url", ""), meta=meta)


def from_html(
    html: str, *, article_id: str, origin: str, url: str = "", fallback_date: str = ""
) -> Article:
    """A page's article as `extract.py` reads it (trafilatura's main text, the page's own
    title, outlet and publication date; `fallback_date`, a feed's, when the page has
    none); a page trafilatura finds no text in is read by its visible text instead."""
    try:
        page = extract_page(html, url=url, fallback_date=fallback_date)
    except RecursionError:  # tags nested thousands deep
        page = None
    if page is None:
        return _visible_text(html, article_id=article_id, origin=origin, url=url)
    title = page.title or _title_from_body(page.text)
    if not page.text.strip():
        raise IngestError(f"{origin}: no article text found in the page")
    return Article(
        id=article_id,
        title=title,
        text=page.text,
        date=page.date,
        source=page.source,
        url=page.url,
        origin=origin,
    )


def _visible_text(html: str, *, article_id: str, origin: str, url: str) -> Article:
    """Visible text of a page plus its <title>/<meta> title, date, outlet and url."""
    from bs4 import BeautifulSoup  # only ingestion of HTML pays for the parser

    try:
        soup = BeautifulSoup(html, "html.parser")
        meta = _html_meta(soup)
        for tag in soup(_HIDDEN_TAGS):
            tag.decompose()
        for tag in soup(["nav", "header", "footer", "aside"]):
            tag.decompose()
        root = soup.find("article") or soup.find("main") or soup.body or soup
        text = root.get_text("\n")
    except RecursionError:  # tags nested thousands deep: the parser's own limit
        raise IngestError(f"{origin}: HTML nested too deeply to read") from None
    page_url = meta.pop("url", "") or url
    if not meta.get("source") and page_url:
        meta["source"] = (urlparse(page_url).hostname or "").removeprefix("www.")
    return _article(text, article_id=article_id, origin=origin, url=page_url, meta=meta)


#: Never article text: code, styling, embedded frames and forms (their content is dropped,
#: so a script in a page is neither stored nor quoted).
_HIDDEN_TAGS = ["script", "style", "noscript", "template", "svg", "iframe", "form", "button"]

_META_KEYS = {
    "title": ("og:title", "twitter:title", "title", "dc.title"),
    "date": (
        "article:published_time",
        "og:published_time",
        "datepublished",
        "date",
        "pubdate",
        "publishdate",
        "dc.date",
        "dc.date.issued",
        "sailthru.date",
        "parsely-pub-date",
    ),
    "source": ("og:site_name", "application-name", "publisher"),
    "url": ("og:url",),
}


#: Markup inside a <meta> value ("<img src=x onerror=...>" in an og:title): a title is
#: text, so tags (and scripts with their code) are dropped from it.
_MARKUP = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^<>]*>", re.I | re.S)


def _html_meta(soup: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    tags: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        key = (tag.get("property") or tag.get("name") or tag.get("itemprop") or "").lower()
        content = " ".join(_MARKUP.sub(" ", str(tag.get("content") or "")).split())
        if key and content:
            tags.setdefault(key, content)
    for field_name, keys in _META_KEYS.items():
        for key in keys:
            if tags.get(key):
                found[field_name] = tags[key]
                break
    if "title" not in found and soup.title and soup.title.string:
        found["title"] = soup.title.string.strip()
    if "date" not in found and (time_tag := soup.find("time", attrs={"datetime": True})):
        found["date"] = time_tag["datetime"]
    canonical = soup.find("link", rel="canonical")
    if "url" not in found and canonical and canonical.get("href"):
        found["url"] = canonical["href"]
    return found


def url_id(url: str) -> str:
    return "url-" + hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]


def _load_url(url: str, *, max_bytes: int, timeout: float) -> Loaded:
    """One page through the polite fetcher (robots.txt, bounded redirects, size limit)."""
    with Fetcher(timeout=timeout, max_bytes=max_bytes) as fetcher:
        fetched = fetcher.get(url)
    return from_fetched(url, fetched.content, fetched.content_type, final_url=fetched.url)


def from_fetched(
    url: str, data: bytes, content_type: str, *, final_url: str = "", fallback_date: str = ""
) -> Loaded:
    """The article in a fetched page (HTML, or plain text), named by the URL asked for."""
    text, note = decode(data, url, charset_of(content_type))
    article_id = url_id(url)
    page_url = final_url or url
    if "html" in content_type or text.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
        article = from_html(
            text, article_id=article_id, origin=url, url=page_url, fallback_date=fallback_date
        )
    else:
        article = from_text(text, article_id=article_id, origin=url, url=page_url)
    return Loaded([article], warnings=[note] if note else [])
