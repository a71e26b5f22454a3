"""The example questions under the chat, drawn from the stored articles, never from code.

A reader of a beat asks its collection for a timeline of its main subject, what is new
in its latest week, and who reported its biggest story; the chips offer those questions
about whatever this collection holds. The main subjects are the names its titles repeat
most (a country and its demonym count as one: "France" and "French"). Rendering the chips
is `app.py`'s.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from ..base.schema import StoredArticle
from ..language.aliases import country_aliases
from ..language.dates import spoken_date, to_date
from ..language.text import fold, stopwords

EXAMPLE_COUNT = 3
#: A week: "what is new" asks about the newest article's last seven days.
_WEEK = timedelta(days=6)
_NAME = re.compile(r"\b[A-Z][\w’'-]{3,}")


def example_questions(articles: Sequence[StoredArticle], count: int = EXAMPLE_COUNT) -> list[str]:
    """A timeline of the collection's main subject, what is new in its latest week, and
    which outlets reported its second subject (the first when there is one only)."""
    subjects = main_subjects(articles)
    questions = []
    if subjects:
        questions.append(f"What happened with {subjects[0]}, in order?")
    dated = sorted(d for a in articles if (d := to_date(a.date)))
    if dated:
        questions.append(f"What is new since {spoken_date((dated[-1] - _WEEK).isoformat())}?")
    if subjects:
        questions.append(f"Which outlets reported on {subjects[min(1, len(subjects) - 1)]}?")
    return questions[:count]


def main_subjects(articles: Sequence[StoredArticle], count: int = 2) -> list[str]:
    """The names the titles repeat most, most frequent first (ties: the one met first),
    each shown in its shortest form ("France" for "France" and "French"); a name must
    occur in two titles or more."""
    groups: Counter[frozenset[str]] = Counter()
    forms: dict[frozenset[str], set[str]] = {}
    for article in articles:
        seen: dict[frozenset[str], None] = {}  # in title order: ties go to the first seen
        for word in _NAME.findall(article.title):
            folded = fold(word).strip("'’")
            if folded in stopwords():
                continue
            key = frozenset({folded, *country_aliases(folded)})
            forms.setdefault(key, set()).add(word.strip("'’"))
            seen[key] = None
        groups.update(list(seen))
    ranked = [key for key, n in groups.most_common() if n >= 2]
    return [min(forms[key], key=lambda w: (len(w), w)) for key in ranked[:count]]
