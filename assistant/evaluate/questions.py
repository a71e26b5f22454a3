"""Question sets: YAML or JSONL files of questions (or conversations) and their gate.

A file is a list of entries, or a mapping with `questions:` (the list) and an
optional `gate:` (metric -> minimum, applied by `assistant eval --gate`). An
entry is one question with what a good answer looks like, or a conversation
(`turns`). Validation is pydantic's; its errors are turned into one line that
names the file, the entry (number and id), the turn and the field. Scoring and
running are `scoring.py`'s and `runner.py`'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails

from ..base.errors import AssistantError


class EvalError(AssistantError):
    """A problem with an evaluation run (bad --fail-under, unwritable output)."""


class EvalFileError(EvalError):
    """A question file that cannot be read or has a malformed entry."""


def _strings(value: Any) -> tuple[str, ...]:
    """A list of strings (numbers allowed: "2020"), each non-empty."""
    if value is None:
        return ()
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v).strip()
        for v in value
    )
    if not ok:
        raise ValueError("must be a list of strings")
    return tuple(str(v).strip() for v in value)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]


def _iso(value: Any) -> str:
    from datetime import date

    text = str(value).strip()
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ValueError("must be a date written YYYY-MM-DD") from None
    return text


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


#: The kinds of answer a turn may expect (`language.question.Intent`'s values).
INTENTS = ("lookup", "timeline", "recency", "coverage", "enumeration")


def _intent(value: Any) -> str:
    if value not in INTENTS:
        raise ValueError(f"must be one of {', '.join(INTENTS)}")
    return str(value)


class Turn(BaseModel):
    """One question with what a good answer looks like."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: Annotated[str, BeforeValidator(_text)]
    expect_any: Strings = ()
    expect_all: Strings = ()
    expect_none: Strings = ()  # what a right answer must not say (a drifted follow-up)
    sources: Strings = ()
    answerable: Annotated[bool, BeforeValidator(_flag)] = True
    # Checks beyond words, for answers drawn from many articles:
    intent: Annotated[str, BeforeValidator(_intent)] | None = None  # the kind recognised
    dates_ascending: Annotated[bool, BeforeValidator(_flag)] = False  # dated lines in order
    newest_first: Annotated[bool, BeforeValidator(_flag)] = False  # first citation newest
    min_articles: Annotated[int, BeforeValidator(_count)] | None = None  # distinct cited
    cited_since: Annotated[str, BeforeValidator(_iso)] | None = None  # every cited dated >=
    # Scored but never tuned on: a rule that helps the rest and not these is dropped.
    held_out: Annotated[bool, BeforeValidator(_flag)] = False

    @property
    def structural(self) -> bool:
        """Does the turn check an answer's shape (order, spread, dates), not only words?"""
        return bool(
            self.intent not in (None, "lookup")
            or self.dates_ascending
            or self.newest_first
            or self.min_articles
            or self.cited_since
        )

    @model_validator(mode="after")
    def _refusal_has_no_expectations(self) -> Turn:
        if not self.answerable:
            for name in (
                "expect_any",
                "expect_all",
                "expect_none",
                "sources",
                "dates_ascending",
                "newest_first",
                "min_articles",
                "cited_since",
            ):
                if getattr(self, name):
                    raise ValueError(
                        f"'{name}' makes no sense with 'answerable: false' (a refusal is expected)"
                    )
        return self


class Item(BaseModel):
    """An entry of a question set: a single question, or a conversation of turns."""

    model_config = ConfigDict(frozen=True)

    id: str
    turns: tuple[Turn, ...]
    conversation: bool = False


class QuestionSet(BaseModel):
    """A whole file: its items and the gate (metric -> minimum) it declares, if any."""

    model_config = ConfigDict(frozen=True)

    items: list[Item]
    gate: dict[str, float] = {}


_TURN_KEYS = frozenset(Turn.model_fields)
_ENTRY_KEYS = _TURN_KEYS | {"id", "turns"}


def load_questions(path: Path) -> list[Item]:
    """The items of a YAML (.yaml/.yml) or JSONL (.jsonl) question set."""
    return load_question_set(path).items


def load_question_set(path: Path) -> QuestionSet:
    """Read and validate a question file; every problem is one `EvalFileError` line."""
    path = Path(path)
    if not path.is_file():
        raise EvalFileError(f"{path}: no such question file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(f"{path}: cannot read ({exc})") from None
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        return QuestionSet(items=parse_items(_jsonl(text, path), str(path)))
    data = _yaml(text, path)
    gate: Any = {}
    if isinstance(data, dict) and "questions" in data:
        gate = data.get("gate") or {}
        data = data["questions"]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise EvalFileError(f"{path}: expected a list of questions at the top level")
    if not isinstance(gate, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in gate.values()
    ):
        raise EvalFileError(f"{path}: 'gate' must map metric names to numbers")
    return QuestionSet(
        items=parse_items(data, str(path)), gate={str(k): float(v) for k, v in gate.items()}
    )


def _jsonl(text: str, path: Path) -> list[Any]:
    records: list[Any] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise EvalFileError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
    return records


def _yaml(text: str, path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise EvalFileError(f"{path}{where}: invalid YAML ({problem})") from None


def parse_items(records: list[Any], origin: str = "questions") -> list[Item]:
    """Validate raw entries; errors name the file, the entry and the field."""
    items: list[Item] = []
    seen: set[str] = set()
    for index, record in enumerate(records, 1):
        item = _parse_entry(record, f"{origin}: entry {index}")
        if item.id in seen:
            raise EvalFileError(f"{origin}: entry {index} ({item.id}): duplicate id")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise EvalFileError(f"{origin}: no questions")
    return items


def _parse_entry(record: Any, label: str) -> Item:
    index = label.rsplit(" ", 1)[-1]
    if not isinstance(record, dict):
        raise EvalFileError(f"{label}: expected a mapping with 'question' or 'turns'")
    raw_id = record.get("id", f"q{index}")
    if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool) or not str(raw_id).strip():
        raise EvalFileError(f"{label}: 'id' must be a non-empty string")
    item_id = str(raw_id).strip()
    label = f"{label} ({item_id})"
    unknown = sorted(set(record) - _ENTRY_KEYS)
    if unknown:
        raise EvalFileError(f"{label}: {_unknown(unknown[0], _ENTRY_KEYS)}")
    if "turns" not in record:
        if "question" not in record:
            raise EvalFileError(f"{label}: missing 'question' (or 'turns')")
        fields = {k: v for k, v in record.items() if k != "id"}
        return Item(id=item_id, turns=(_turn(fields, label),))
    inline = sorted(set(record) & _TURN_KEYS)
    if inline:
        raise EvalFileError(
            f"{label}: '{inline[0]}' belongs inside each turn when 'turns' is given"
        )
    turns = record["turns"]
    if not isinstance(turns, list) or not turns:
        raise EvalFileError(f"{label}: 'turns' must be a non-empty list of questions")
    parsed = tuple(_turn(t, f"{label}: turn {n}") for n, t in enumerate(turns, 1))
    return Item(id=item_id, turns=parsed, conversation=True)


def _turn(fields: Any, label: str) -> Turn:
    if not isinstance(fields, dict):
        raise EvalFileError(f"{label} must be a mapping with 'question'")
    try:
        return Turn.model_validate(fields)
    except ValidationError as exc:
        raise EvalFileError(f"{label}: {_describe(exc.errors()[0])}") from None


def _describe(error: ErrorDetails) -> str:
    """One pydantic error as the file's author would say it."""
    field = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "extra_forbidden":
        return _unknown(field, _TURN_KEYS)
    if error["type"] == "missing":
        return f"'{field}' must be a non-empty string"
    reason = str((error.get("ctx") or {}).get("error", error["msg"]))
    return f"'{field}' {reason}" if field else reason


def _unknown(name: str, known: frozenset[str]) -> str:
    return f"unknown field '{name}' (known: {', '.join(sorted(known))})"
