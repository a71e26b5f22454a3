"""What a chat model is given: the numbered sources block and the earlier turns as
plain text. Prompt wording lives in `prompts/`; running the model is `core.py`'s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..base.phrases import format_marker
from ..base.schema import Passage


def format_sources(passages: Sequence[Passage]) -> str:
    """Numbered passages with title, outlet and date; text fenced so it reads as data."""
    blocks = []
    for n, p in enumerate(passages, 1):
        meta = " — ".join(x for x in (p.source, p.date if p.date != "unknown" else "") if x)
        body = p.text.replace("<<<", "« ").replace(">>>", " »")  # a passage cannot close its fence
        blocks.append(
            f'{format_marker(n)} "{p.title}"'
            + (f" ({meta})" if meta else "")
            + f"\n<<<\n{body}\n>>>"
        )
    return "\n\n".join(blocks)


def plain(answer: str) -> str:
    return re.sub(r"\s*\[\d+(?:\s*,\s*\d+)*\]", "", answer)[:500]


def format_sources_by_article(passages: Sequence[Passage]) -> str:
    """The passages grouped by article, articles oldest first (undated last), each under
    a heading with its title, outlet and date; passages keep their numbers."""
    groups: dict[str, list[tuple[int, Passage]]] = {}
    for n, p in enumerate(passages, 1):
        groups.setdefault(p.article_id, []).append((n, p))
    ordered = sorted(groups.values(), key=lambda g: (g[0][1].date[:1] == "u", g[0][1].date))
    blocks = []
    for group in ordered:
        first = group[0][1]
        meta = " — ".join(
            x for x in (first.source, first.date if first.date != "unknown" else "") if x
        )
        lines = [f'Article "{first.title}"' + (f" ({meta})" if meta else "")]
        for n, p in group:
            body = p.text.replace("<<<", "« ").replace(">>>", " »")
            lines.append(f"{format_marker(n)}\n<<<\n{body}\n>>>")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
