"""Other names of the same country: its name, short codes, alternative spellings, demonym.

A question says "American troops" where the article says "US troops"; the check that
every name asked about occurs in a passage (answer.missing_names) must treat them as
one name. The data is countryinfo's (a maintained country dataset, MIT); nothing here
knows any country itself. Loaded on first use, only when a name was not found as is.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .text import fold


@lru_cache(maxsize=1)
def _groups() -> dict[str, frozenset[str]]:
    """Folded form of every name of a country -> all the folded names of that country."""
    from countryinfo import CountryInfo

    index: dict[str, frozenset[str]] = {}
    for record in CountryInfo.all().values():
        names = [record.get("name"), record.get("demonym"), *record.get("altSpellings", [])]
        group = frozenset(fold(n).strip() for n in names if isinstance(n, str) and n.strip())
        for name in group:
            # A demonym several places share ("American": the US, its territories) stands
            # for any of them: this is a presence check, not a resolver.
            index[name] = index.get(name, frozenset()) | group
    return index


def country_aliases(word: str) -> frozenset[str]:
    """The other folded names of the country `word` names ('american' -> 'us', 'usa',
    'united states', ...); empty when `word` is no country name or demonym."""
    return _groups().get(fold(word).strip(), frozenset()) - {fold(word).strip()}


def mentions_alias(word: str, folded_text: str) -> bool:
    """Whether `folded_text` names the country of `word` under another of its names,
    as whole words ("us" in "us troops", not in "discuss")."""
    return any(
        re.search(rf"(?<!\w){re.escape(alias)}(?!\w)", folded_text)
        for alias in country_aliases(word)
    )
