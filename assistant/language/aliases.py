"""Other names of the same country: its name, short codes, alternative spellings, demonym.

A question says "American troops" where the article says "US troops"; the check that
every name asked about occurs in a passage (answer.missing_names) must treat them as
one name. `country_roles` / `attributes_role` check the other way round: asked about
"Iraq's foreign minister", a passage must give that role to Iraq, not only mention Iraq
beside another country's minister. The data is countryinfo's (a maintained country
dataset, MIT); nothing here knows any country itself. Loaded on first use, only when a
name was not found as is (or a question names a country's role).
"""

from __future__ import annotations

import re
from functools import lru_cache

from .text import fold, stopwords


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


# "Iraq's foreign minister": a country's name in the possessive, then the first two words
# of what it has (one word is too loose: "Iraq's foreign affairs think tank").
_COUNTRY_ROLE = re.compile(r"\b([A-Z][\w-]+)['’]s\s+([A-Za-z][a-z]+)(?:\s+([A-Za-z][a-z]+))?")


def country_roles(question: str) -> list[tuple[str, tuple[str, ...]]]:
    """(country, role words) for each "<Country>'s <role>" the question asks about
    ("Iraq's foreign minister" -> ("iraq", ("foreign", "minister"))); a person's
    possessive is not one, and a stopword ends the role ("Iran's support for")."""
    found = []
    for country, *role in _COUNTRY_ROLE.findall(question):
        words = [fold(w) for w in role if w]
        if len(words) > 1 and words[1] in stopwords():
            words = words[:1]
        if _groups().get(fold(country)) and words[0] not in stopwords():
            found.append((fold(country), tuple(words)))
    return found


def attributes_role(country: str, role: tuple[str, ...], folded_text: str) -> bool:
    """Whether the text gives the role to that country: "iraq's foreign minister", "iraqi
    deputy foreign minister", "foreign minister of iraq", or the country inside the title
    ("chief of staff of the iranian armed forces" for "Iran's armed forces chief ...").
    Another country's foreign minister next to this country's name does not count."""
    names = "|".join(re.escape(n) for n in sorted(country_aliases(country) | {country}))
    # Word prefixes: "defence" ~ "defense", "minister" ~ "ministers".
    phrase = r"\w*\s+(?:[\w-]+\s+)?".join(re.escape(w[:5]) for w in role) + r"\w*"
    gap = r"(?:(?!and\b|or\b|with\b)[\w-]+\s+){0,2}?"  # "iraqi deputy foreign minister"
    before = rf"(?<!\w)(?:{names})(?:['’]s)?\s+{gap}{phrase}"
    after = rf"(?<!\w){phrase}(?:\s+[\w-]+){{0,4}}?\s+of\s+(?:the\s+)?(?:{names})(?!\w)"
    return bool(re.search(before, folded_text) or re.search(after, folded_text))
