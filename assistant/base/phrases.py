"""Fixed phrases shared by prompts, code and tests.

The refusal sentence and the citation marker pattern are part of the product's
contract: prompts are rendered with them, the verifier parses them, the tests
assert them. Change them here and everything follows.
"""

from __future__ import annotations

import re

#: Said, word for word, when the articles do not cover a question.
REFUSAL = "The articles in the collection do not cover this question."

#: An inline citation: "[3]" or a group "[1, 4]" / "[1][4]".
CITATION_PATTERN = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")

#: Shown next to extractive answers so nobody mistakes them for generated prose.
EXTRACTIVE_LABEL = "Extractive answer: sentences quoted from the articles, no language model."

#: Phrases by which a model says the sources lack the answer (lower-case).
MODEL_REFUSAL_MARKERS = (
    "do not cover",
    "don't cover",
    "does not cover",
    "not covered",
    "not mentioned in the",
    "no information",
    "not in the sources",
    "not in the articles",
    "sources do not",
    "articles do not",
    "cannot answer",
    "can't answer",
    "unable to answer",
    "do not contain",
    "does not contain",
    "don't contain",
    "doesn't contain",
    "do not provide",
    "does not provide",
    "not provided in",
)


#: What an answer computed rather than quoted (a date resolved against the article's
#: publication date, the outlet from its metadata) stands between these marks, so a reader
#: and the verifier can tell it from the article's own words.
DERIVED_OPEN, DERIVED_CLOSE = "⟨", "⟩"
DERIVED_PATTERN = re.compile(r"\s*⟨([^⟨⟩]*)⟩")
#: The derived notes, word for word (the verifier recomputes and compares them).
RESOLVED_DATE = "{date}, counted from the article's date"
REPORTED_ON = "reported on {date}"
REPORTED_BY = "reported by {outlet}"
#: Notes that open a line of an answer drawn from many articles (`answer/across.py`).
UNDATED = "undated"
OUTLET_NOT_GIVEN = "outlet not given"
SOURCE_LINE = "{outlet}, {date}"
REPORT = "{outlet}, {date}: “{title}”"


def derived(note: str) -> str:
    """A computed note, marked: " ⟨reported on March 5, 2024⟩"."""
    return f" {DERIVED_OPEN}{note}{DERIVED_CLOSE}"


def format_marker(n: int) -> str:
    """The marker for passage `n`, e.g. ``[2]``."""
    return f"[{n}]"


def article_count(articles: int, outlets: int) -> str:
    """The count line of a coverage answer: "3 articles from 2 named outlets"."""
    noun = "article" if articles == 1 else "articles"
    named = {0: "no named outlet", 1: "1 named outlet"}.get(outlets, f"{outlets} named outlets")
    return f"{articles} {noun} from {named}"
