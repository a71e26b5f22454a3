"""Other names of the same country: its name, short codes, alternative spellings, demonym.

A question says "American troops" where the article says "US troops"; the check that
every name asked about occurs in a passage (answer.missing_names) must treat them as
one name. `country_roles` / `attributes_role` check the other way round: asked about
"Iraq's foreign minister" (a title: a noun of office from english.yaml `role_nouns`), a
passage must give that role to Iraq ("Iraqi foreign minister", "chief of staff of the
Iraqi army"), not only mention Iraq beside another country's minister. The country data
is countryinfo's (a maintained country dataset, MIT); nothing here knows any country.
Loaded on first use, only when a name was not found as is (or a question names a
country's role).
"""

from __future__ import annotations

import re
from functools import lru_cache

from .text import english, fold, stopwords


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


# "Iraq's foreign minister": a country's name in the possessive and the words after it.
_COUNTRY_POSSESSIVE = re.compile(r"\b([A-Z][\w-]+)['’]s\s+")
_TOKEN = re.compile(r"[\w-]+|[^\w\s]")
# How far after the possessive a title's head noun may come: "Iran's armed forces chief".
_ROLE_REACH = 3
# Words a title may hold between its parts ("chief of staff of the army").
_TITLE_JOINERS = frozenset({"of", "the"})


@lru_cache(maxsize=1)
def _role_nouns() -> frozenset[str]:
    """The nouns of office and their plurals; spelled out, not stemmed, since a stem
    would also take "office" (a place) for "officer"."""
    nouns = english()["role_nouns"]
    return frozenset(nouns) | frozenset(_plural(n) for n in nouns)


def _plural(noun: str) -> str:
    """'minister' -> 'ministers', 'spokesman' -> 'spokesmen', 'secretary' -> 'secretaries'."""
    if noun.endswith("man"):
        return noun[:-3] + "men"
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


def country_roles(question: str) -> list[tuple[str, tuple[str, ...]]]:
    """(country, role words) for each "<Country>'s <title>" the question asks about:
    the title's head noun with the word before it ("Iraq's army chief of staff" ->
    ("iraq", ("army", "chief"))). Only a noun of office (english.yaml `role_nouns`) makes
    a role: "Iraq's safety" is a topic, and a person's possessive is no country's."""
    found = []
    for match in _COUNTRY_POSSESSIVE.finditer(question):
        country = fold(match.group(1))
        if not _groups().get(country):
            continue
        phrase = _title_words(question[match.end() :])
        heads = [i for i, w in enumerate(phrase) if w in _role_nouns()]
        if heads:
            found.append((country, tuple(phrase[max(heads[-1] - 1, 0) : heads[-1] + 1])))
    return found


def _title_words(text: str) -> list[str]:
    """The first few words of `text`, up to a stopword or punctuation ("army chief" of
    "army chief of staff thank ...")."""
    kept: list[str] = []
    for token in _TOKEN.findall(fold(text))[:_ROLE_REACH]:
        if not token[0].isalnum() or token in stopwords():
            break
        kept.append(token)
    return kept


def attributes_role(country: str, role: tuple[str, ...], folded_text: str) -> bool:
    """Whether the text gives the role to that country: "iraq's foreign minister", "iraqi
    deputy foreign minister", "foreign minister of iraq", or the country inside the title
    ("chief of staff of the iraqi army" for "Iraq's army chief"). The title's words may
    come in any order, but only within the country's own title: another country's
    foreign minister next to this country's name does not count."""
    tokens = list(_TOKEN.finditer(folded_text))
    names = "|".join(re.escape(n) for n in sorted(country_aliases(country) | {country}))
    for mention in re.finditer(rf"(?<!\w)(?:{names})(?:['’]s)?(?!\w)", folded_text):
        first = next(i for i, t in enumerate(tokens) if t.end() > mention.start())
        last = max(i for i, t in enumerate(tokens) if t.start() < mention.end())
        words = [t.group() for t in tokens]
        if _has_role(role, _title_around(words, first, last)):
            return True
    return False


def _title_around(words: list[str], first: int, last: int) -> list[str]:
    """The words that can be part of a title naming the country at words[first:last+1]:
    the ones after it ("iraqi deputy foreign minister"), and, after "of (the)", the ones
    before that "of" ("chief of staff of the iraqi army"). A title ends at punctuation
    or a stopword other than "of"/"the" ("... araghchi met with iraq's adviser")."""
    after = _run(words[last + 1 :], limit=_ROLE_REACH + 1)
    before: list[str] = []
    of = first - 2 if first >= 2 and words[first - 1] == "the" else first - 1
    if of >= 0 and words[of] == "of":
        before = _run(words[:of][::-1], limit=_ROLE_REACH + 3)
    return before + after


def _run(words: list[str], *, limit: int) -> list[str]:
    """The leading words that may belong to one title, at most `limit` of them."""
    kept: list[str] = []
    for word in words[:limit]:
        if not word[0].isalnum() or (word in stopwords() and word not in _TITLE_JOINERS):
            break
        kept.append(word)
    return kept


def _has_role(role: tuple[str, ...], title: list[str]) -> bool:
    # Word prefixes: "defence" ~ "defense", "minister" ~ "ministers".
    return all(any(w.startswith(r[:5]) for w in title) for r in role)
