"""Retrieval filters: outlets and a date range, parsed by one rule for every front end.

`Filters.parse` is the only place user-typed filter values become a `Filters`:
the CLI's `--since/--until`, the web page's date fields and the `/ask` API all
go through it, so "March 5, 2024" and "2024-03-05" mean the same everywhere and
a wrong date is one message naming the field. Applying filters is the store's
job (Chroma `where` clauses) and the lexical index's (a mask).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..base.errors import ConfigError
from ..language.dates import parse_date


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some outlets and a date range (ISO dates, inclusive)."""

    sources: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.sources or self.since or self.until)

    @classmethod
    def parse(
        cls,
        sources: Iterable[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        *,
        names: tuple[str, str] = ("since", "until"),
    ) -> Filters:
        """Filters from what a person typed; `names` are the fields as the front end
        labels them ("--since", "Since"), so an error points at the right one."""
        dates = {}
        for key, name, value in (("since", names[0], since), ("until", names[1], until)):
            text = (value or "").strip()
            iso = parse_date(text) if text else None
            if text and iso is None:
                raise ConfigError(f"{name} '{text}' is not a date (use YYYY-MM-DD)")
            dates[key] = iso
        if dates["since"] and dates["until"] and dates["since"] > dates["until"]:
            raise ConfigError(
                f"{names[0]} {dates['since']} is after {names[1]} {dates['until']}: "
                "no article can match"
            )
        kept = tuple(s.strip() for s in sources or () if s and s.strip())
        return cls(sources=kept, since=dates["since"], until=dates["until"])

    def excludes(self, source: str, date: str) -> str | None:
        """Why an article of this outlet and date is filtered out ("dated before
        2025-01-01", "undated", "from another outlet"), or None when it passes."""
        if self.sources and source not in self.sources:
            return "from another outlet"
        if (self.since or self.until) and not date_ord(date):
            return "undated"
        if self.since and date < self.since:
            return f"dated before {self.since}"
        if self.until and date > self.until:
            return f"dated after {self.until}"
        return None

    def describe(self) -> str:
        """The filters in words, for messages: "from YCPress, before 2025-01-01"."""
        parts = []
        if self.sources:
            parts.append("from " + " or ".join(self.sources))
        if self.since and self.until:
            parts.append(f"dated {self.since} to {self.until}")
        elif self.since:
            parts.append(f"dated on or after {self.since}")
        elif self.until:
            parts.append(f"dated on or before {self.until}")
        return ", ".join(parts)


def date_ord(iso: str) -> int:
    """'2024-03-05' -> 20240305; 'unknown' -> 0 (Chroma compares numbers only)."""
    digits = iso.replace("-", "")
    return int(digits) if digits.isdigit() and len(digits) == 8 else 0
