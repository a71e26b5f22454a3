"""Turn a scraped page's text into a clean article: metadata out, furniture away.

Pure functions over strings. Real news text arrives with site headers, bylines,
share counters, comment forms and reCAPTCHA notices; this module finds the
title, publication date, outlet and url in the header lines and drops the web
furniture so it is neither embedded nor quoted. Invisible formatting characters
(zero-width spaces, bidirectional overrides) are removed, so they can neither hide a
word from search nor disguise a title. Reading files and fetching URLs
is `sources.py`'s job; chunking is `chunking.py`'s.

Dates are never guessed: a date without a year ("14th and 15th November")
leaves the article's date "unknown".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..base.schema import UNKNOWN_DATE
from ..language.dates import MONTH, WEEKDAY_NAMES, leading_date, parse_date, url_date

# A header line that is a date and little else: "• Sunday, 03 March 2024", "date 2025-02-07".
_DATE_PREFIX = re.compile(
    r"^\s*(?:[•·\-*]\s*)?(?:(?:date|published|posted|updated|on)\s*:?\s*)?", re.I
)
# "Gulan Media December 3, 2023 News", "Example Wire, March 12, 2024": outlet, then date.
_BYLINE_WITH_DATE = re.compile(
    r"^(?P<outlet>[A-Z][\w&'’.\- ]{1,60}?)\s*[,|]?\s+(?P<date>"
    + MONTH
    + r"\.?\s+\d{1,2},?\s+\d{4})"
    r"(?:\s+(?:news|politics|world|opinion|analysis|middle east))?\s*$",
    re.I,
)
_BY_OUTLET = re.compile(r"^\s*(?:by|from)\s+(?P<outlet>[\w&'’.\- ]{2,40})\s*$", re.I)
# "By Jane Doe | Example Wire | March 12, 2024", "By Jane Doe, Example Wire".
_BYLINE_PARTS = re.compile(r"^\s*by\s+(?P<author>[^|,]{2,60}?)\s*[|,]\s*(?P<rest>.+)$", re.I)
# A dateline opening the body: "BAGHDAD (Reuters) - ...", "Washington CNN — ...",
# "CNN — ...": the agency is the outlet (a lone capitalised city names none).
_DATELINE = re.compile(
    r"^(?:(?P<city>[A-Z][A-Za-z.'’ -]{1,40}?)\s+)?"
    r"(?:\((?P<agency>[A-Z][\w&.' ]{1,30})\)|(?P<bare>[A-Z][A-Z&.]{1,10}))"
    r"\s*[—–-]+(?:\s|$)"
)
_ORIGINAL_SOURCE = re.compile(
    r"^\s*(?:original\s+source|source)\s*:\s*(?P<outlet>\S.{0,80})$", re.I
)
#: Invisible formatting characters that only hide or disguise text: zero-width space,
#: word joiner, a byte-order mark inside the text, soft hyphens, and the bidirectional
#: embeddings, overrides and isolates that can make a title display reversed ("Trojan
#: source"). Removed everywhere, so "Zar\u200bif" is found as "Zarif". Zero-width
#: (non-)joiners and the left/right-to-left marks stay: Persian and Arabic need them.
INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff\u202a-\u202e\u2066-\u2069]")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)

# Lines that are web furniture wherever they appear (matched on the stripped line).
_FURNITURE = re.compile(
    r"""^(?:
        [›»>•]?\s*subscribe(?:\s+now)?
      | please\ enter\ your\ (?:comment|name|email).*
      | you\ have\ entered\ an\ incorrect\ email.*
      | leave\ a\ (?:reply|comment).*
      | your\ email\ address\ will\ not\ be\ published.*
      | required\ fields\ are\ marked.*
      | save\ my\ name,\ email.*
      | post\ comment | submit\ comment
      | the\ recaptcha\ verification\ period\ has\ expired.*
      | this\ site\ is\ protected\ by\ recaptcha.*
      | (?:more|related|recommended)\ (?:articles|stories|news|posts)
      | read\ more | see\ also | advertisement | sponsored
      | share(?:\ this(?:\ article)?)?:?
      | tweet | whatsapp | telegram | facebook | twitter | email | print
      | click\ to\ share.* | share\ on\ .*
      | \d+(?:[.,]\d+)?\s*[km]?\s*(?:shares?|comments?|views?)?
      | sign\ up\ for\ (?:our|the)\ newsletter.*
      | all\ rights\ reserved.* | ©.* | copyright\ ©.*
      | skip\ to\ (?:main\ )?content
    )$""",
    re.I | re.X,
)
# A comment form ends the article: everything after it is furniture.
_END_MARKERS = re.compile(
    r"^(?:leave\ a\ (?:reply|comment)|please\ enter\ your\ comment!?|[›»]?\s*subscribe"
    r"|more\ articles|related\ articles)\s*$",
    re.I | re.X,
)


@dataclass(frozen=True)
class Cleaned:
    """Result of cleaning: the article text and what was found in its header."""

    title: str
    text: str
    date: str
    source: str


def _strip_leading_date(line: str) -> tuple[str | None, str]:
    """If `line` starts with a date ("Published: March 5, 2024 ..."): (ISO, the rest)."""
    prefix = _DATE_PREFIX.match(line)
    return leading_date(line[prefix.end() if prefix else 0 :])


def _is_furniture(line: str) -> bool:
    stripped = line.strip()
    if not stripped:
        return False
    if _FURNITURE.match(stripped):
        return True
    # A line that is only a UUID (tracking ids pasted by scrapers).
    return bool(_UUID.fullmatch(stripped))


def _is_paragraph(line: str) -> bool:
    """A body paragraph rather than a header line.

    News ledes are often one sentence on a line of their own ("Taiwan's President
    Tsai Ing-wen has resigned as ..."): a line of ten or more words ending like a
    sentence is body. Titles, bylines and breadcrumbs do not end with a full stop.
    """
    if len(line) >= 200 or len(re.findall(r"[.!?](?:\s|$)", line)) >= 2:
        return True
    return len(line.split()) >= 10 and bool(_SENTENCE_END.search(line))


_SENTENCE_END = re.compile(r"[a-z0-9%)][.!?][\"'”’)]*$")


def _cut_trailer(lines: list[str]) -> list[str]:
    """Drop everything after a comment form or 'More Articles' in the second half."""
    half = len(lines) // 2
    for i, line in enumerate(lines):
        if i >= half and _END_MARKERS.match(line.strip()):
            return lines[:i]
    return lines


@dataclass
class _Header:
    title: str = ""
    date: str | None = None
    byline_date: str | None = None
    source: str = ""
    candidates: list[str] | None = None


def _read_header(lines: list[str]) -> tuple[_Header, int]:
    """Scan the header lines (before the first paragraph): what they say, where the body starts."""
    header = _Header(candidates=[])
    assert header.candidates is not None
    body_start = len(lines)
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        if _is_paragraph(line):
            body_start = i
            break
        if (m := _BYLINE_WITH_DATE.match(line)) and not _is_weekday(m.group("outlet")):
            header.source = header.source or m.group("outlet").strip()
            header.byline_date = header.byline_date or parse_date(m.group("date"))
            continue
        if m := _BY_OUTLET.match(line):
            header.source = header.source or m.group("outlet").strip()
            continue
        if m := _BYLINE_PARTS.match(line):
            _read_byline(m.group("rest"), header)
            continue
        iso, rest = _strip_leading_date(line)
        if iso:
            header.date = header.date or iso
            if not rest:
                continue
            line = rest
        agency, end = dateline_outlet(line)
        if agency and end >= len(line):
            header.source = header.source or agency  # "CNN —" above the body
            continue
        if _is_furniture(line) or len(line) > 250:
            continue
        header.candidates.append(line)
    header.title = _choose_title(header.candidates)
    return header, body_start


def _is_weekday(word: str) -> bool:
    """ "Tuesday, March 5, 2024" is a date line, not an outlet called Tuesday."""
    return word.strip(" ,").lower() in WEEKDAY_NAMES


def _read_byline(rest: str, header: _Header) -> None:
    """The parts after "By <author>": a date and an outlet, in any order."""
    parts = rest.split("|") if "|" in rest else re.split(r",\s+(?=[A-Z])", rest)
    for part in (p.strip() for p in parts):
        iso = parse_date(part)
        if iso:
            header.byline_date = header.byline_date or iso
        elif part and not re.search(r"\d", part):
            header.source = header.source or part


def dateline_outlet(paragraph: str) -> tuple[str, int]:
    """The agency a dateline names ("BAGHDAD (Reuters) —" -> "Reuters"), and where the
    dateline ends; ("", 0) when the paragraph opens with none."""
    m = _DATELINE.match(paragraph)
    if not m:
        return "", 0
    agency = m.group("agency") or ""
    bare = m.group("bare") or ""
    if bare and not m.group("city") and len(bare) > 5:
        return "", 0  # "TEHRAN –": a city, no agency
    if bare and m.group("city") and m.group("city").isupper():
        return "", 0  # "NEW YORK AP –" is rare; "SAN JUAN –" is a city in two words
    return (agency or bare).strip(), m.end()


def _choose_title(candidates: list[str]) -> str:
    """A line repeated in the header (often as a breadcrumb suffix) is the title; else the first."""
    for i, line in enumerate(candidates):
        for j, other in enumerate(candidates):
            if i != j and len(line) >= 15 and (other == line or other.endswith(" " + line)):
                return line
    # An outlet or section name ("AP", "World") above the headline is not the title.
    return next((c for c in candidates if len(c.split()) >= 3), candidates[0] if candidates else "")


def _title_from_body(text: str, limit: int = 110) -> str:
    """A title for an article with none: the first headline-like line of the body (a
    subhead), else its first sentence without a dateline, shortened."""
    for line in text.split("\n"):
        words = line.split()
        if (
            3 <= len(words) <= 15
            and not _is_paragraph(line)
            and not line.rstrip().endswith((".", ":", ";", ","))
        ):
            return line.strip()
    first = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    first = re.sub(r"^[A-Z][A-Z .]{2,30}\s*[–—-]\s*", "", first)  # "TEHRAN – "
    if len(first) <= limit:
        return first.rstrip(".")
    return first[:limit].rsplit(" ", 1)[0] + "…"


def clean_article(
    raw: str, *, title: str = "", date_hint: str = "", source: str = "", url: str = ""
) -> Cleaned:
    """Clean raw article text; explicit metadata (JSON, HTML) wins over the header's.

    Date, first found wins: the metadata's, the byline's, the one in the URL's path,
    a date line in the page header (often the day the page was saved, not published).
    """
    text = _unify(_UUID.sub("", raw))
    lines = _cut_trailer(text.split("\n"))
    found_source = source
    kept: list[str] = []
    for line in lines:
        if m := _ORIGINAL_SOURCE.match(line.strip()):
            found_source = found_source or _outlet_name(m.group("outlet"))
            continue
        kept.append(line)

    header, body_start = _read_header(kept)
    if body_start >= len(kept):
        # No paragraph-like line at all (a short note, a list): keep every line as body.
        body_start = next((i for i, ln in enumerate(kept) if ln.strip() == header.title), 0)
    body_lines = [ln.strip() for ln in kept[body_start:]]
    if body_lines:
        iso, rest = _strip_leading_date(body_lines[0])  # " date 2025-02-07 TEHRAN – ..."
        if iso:
            header.date = header.date or iso
            body_lines[0] = rest
    if body_lines:
        agency, end = dateline_outlet(body_lines[0])
        header.source = header.source or agency
        if agency and end >= len(body_lines[0]):
            body_lines[0] = ""  # "CNN —" on a line of its own: metadata, not body
    body_kept = [ln for ln in body_lines if not _is_furniture(ln)]
    final_title = " ".join(_unify(title).split()) or header.title
    # The title is not repeated in the body (an export often opens with it).
    body = _join_paragraphs(line for line in body_kept if line not in {header.title, final_title})

    iso_date = parse_date(date_hint) if date_hint else None
    final_date = iso_date or header.byline_date or url_date(url) or header.date or UNKNOWN_DATE
    if not final_title:
        final_title = _title_from_body(body) if body else ""
        article_text = body
    else:
        article_text = f"{final_title}\n\n{body}" if body else final_title
    # The outlet: the metadata's, a source line's, a byline's or dateline's, else the
    # site the article was fetched from ("https://www.cnn.com/..." -> "cnn.com").
    outlet = found_source or header.source or (_outlet_name(url) if is_web_url(url) else "")
    return Cleaned(
        title=final_title,
        text=article_text.strip(),
        date=final_date,
        source=" ".join(INVISIBLE.sub("", outlet).split()),
    )


#: Control characters (other than tab and line feed) become spaces; Unicode's line and
#: paragraph separators become line ends, so every part of the code sees the same lines.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_SEPARATORS = re.compile("[\u2028\u2029]")


def _unify(raw: str) -> str:
    """One kind of line end, single plain spaces, no control or invisible characters."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = _LINE_SEPARATORS.sub("\n", text)
    return re.sub(r"[ \t]+", " ", INVISIBLE.sub("", _CONTROL.sub(" ", text)))


def is_web_url(value: str) -> bool:
    return bool(re.match(r"https?://[^/\s]+\.[^/\s]+", value.strip(), re.I))


def _join_paragraphs(lines: Iterable[str]) -> str:
    """Collapse blank-line runs: paragraphs separated by exactly one blank line."""
    paragraphs = [line for line in lines if line.strip()]
    return "\n\n".join(re.sub(r"[ \t]+", " ", p) for p in paragraphs)


def _outlet_name(value: str) -> str:
    """'www.jpost.com' -> 'jpost.com'; other names unchanged."""
    value = value.strip().rstrip("/")
    value = re.sub(r"^https?://", "", value)
    return (
        re.sub(r"^www\.", "", value).split("/")[0] if "." in value and " " not in value else value
    )
