"""Sentence splitting with character offsets, and small text helpers.

Pure functions used by chunking, the extractive answerer and the citation
verifier, so all three agree on what a sentence is. Sentence boundaries come
from BlingFire (a fast rule-based segmenter); paragraphs (line breaks) always
end a sentence, because headings and list items carry no final period.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

_POSSESSIVE = re.compile(r"'s\b")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "said",
        "says",
        "say",
        "according",
        "did",
        "does",
        "tell",
        "told",
        "many",
        "much",
        "whose",
    ]
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`; paragraphs never share a sentence."""
    spans: list[tuple[int, int]] = []
    for para in re.finditer(r"[^\n]+", text):
        chunk = para.group()
        if not chunk.strip():
            continue
        base = para.start()
        for start, end in _split_paragraph(chunk):
            piece = chunk[start:end]
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece.rstrip())
            if trail > lead:
                spans.append((base + start + lead, base + start + trail))
    return spans


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


@lru_cache(maxsize=1)
def _blingfire() -> object | None:
    try:
        import blingfire
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    return blingfire


def _split_paragraph(text: str) -> list[tuple[int, int]]:
    bf = _blingfire()
    if bf is not None:
        _, offsets = bf.text_to_sentences_and_offsets(text)  # type: ignore[attr-defined]
        if offsets:
            return [(int(s), int(e)) for s, e in offsets]
    return _regex_split(text)


# Abbreviations that end with a period but not a sentence ("Cmdr.", "U.S.").
_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Gen|Lt|Col|Maj|Capt|Cmdr|Sgt|Sen|Rep|Gov|Pres|St|Jr|Sr|Inc|Ltd|Co"
    r"|Corp|vs|etc|No|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)|\b[A-Z](?:\.[A-Z])*)\.$"
)
_BOUNDARY = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")


def _regex_split(text: str) -> list[tuple[int, int]]:
    """Fallback splitter when BlingFire is unavailable."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        candidate = text[start : match.start() + 1]
        if _ABBREV.search(candidate):
            continue
        end = match.end()
        spans.append((start, end))
        start = end
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def fold(text: str) -> str:
    """Lower-case, accent-free form for matching ("Al-Sudani" ~ "al-sudani")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(text: str) -> list[str]:
    """Folded words, possessives dropped ("Iraq’s" -> "iraq")."""
    return _WORD.findall(_POSSESSIVE.sub("", fold(text).replace("’", "'")))


def content_words(text: str) -> list[str]:
    """Words that carry meaning: no stopwords, no one-letter tokens."""
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


# Irregular past forms that news prose uses all the time ("met", "held", "said").
_IRREGULAR = {
    "met": "meet",
    "held": "hold",
    "said": "say",
    "went": "go",
    "came": "come",
    "took": "take",
    "made": "make",
    "gave": "give",
    "led": "lead",
    "left": "leave",
    "told": "tell",
    "sent": "send",
    "won": "win",
    "began": "begin",
    "paid": "pay",
    "spoke": "speak",
    "sought": "seek",
    "brought": "bring",
    "thought": "think",
    "flew": "fly",
    "saw": "see",
    "meetings": "meet",
    "meeting": "meet",
    "visits": "visit",
    # Demonyms and nouns of one root: "Iranian defense ministry" ~ "Iran's defense minister".
    "iranian": "iran",
    "iranians": "iran",
    "iraqi": "iraq",
    "iraqis": "iraq",
    "israeli": "israel",
    "israelis": "israel",
    "palestinian": "palestin",
    "palestinians": "palestin",
    "palestine": "palestin",
    "syrian": "syria",
    "american": "america",
    "americans": "america",
    "russian": "russia",
    "chinese": "china",
    "turkish": "turkey",
    "saudi": "saudi",
    "kurdish": "kurd",
    "kurds": "kurd",
    "ministry": "minist",
    "minister": "minist",
    "ministers": "minist",
    "ministries": "minist",
    "defence": "defense",
}


def stem(word: str) -> str:
    """A light English stemmer: 'talks'/'talk', 'discussed'/'discuss', 'met'/'meet'."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 4:
        if word.endswith("ies"):
            word = word[:-3] + "y"
        elif word.endswith(("sses", "xes", "zes", "ches", "shes")):
            word = word[:-2]
        elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
    if len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) > 4 and word.endswith("ed"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def content_stems(text: str) -> set[str]:
    return {stem(w) for w in content_words(text)}


def spoken_date(iso: str) -> str:
    """'2024-03-05' -> 'March 5, 2024'; anything that is not an ISO date -> ''."""
    try:
        day = date.fromisoformat(iso)
    except ValueError:
        return ""
    return f"{day:%B} {day.day}, {day.year}"
