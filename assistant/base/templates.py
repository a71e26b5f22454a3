"""HTML templates: jinja2 with autoescaping always on.

Every page fragment the product renders (the web chat's answers and source
cards, the evaluation report) is a template under `assistant/templates/`,
shipped as package data. Autoescape is on for every template, so article and
answer text is escaped by default; only values already rendered by another
template (`Markup`) pass through. What to show is the callers' business.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("assistant", "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt variable fails loudly, never renders empty
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render(name: str, **values: Any) -> str:
    """Render `templates/<name>` with `values` (escaped unless marked safe)."""
    return str(_environment().get_template(name).render(**values))


def safe(html: str) -> Any:
    """Mark HTML that a template (or an escaping renderer) produced as safe to embed."""
    from markupsafe import Markup

    return Markup(html)
