"""Records that flow between the layers: articles, chunks, passages, answers.

Plain dataclasses with no behaviour beyond serialisation. `Answer` is the one
contract between the core and every front end (CLI, web, eval): they render or
score it and never retrieve or prompt on their own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

UNKNOWN_DATE = "unknown"


@dataclass(frozen=True)
class Article:
    """A cleaned article, ready to chunk. `text` is what offsets refer to."""

    id: str
    title: str
    text: str
    date: str = UNKNOWN_DATE  # ISO "YYYY-MM-DD" or "unknown"
    source: str = ""  # the outlet
    url: str = ""
    origin: str = ""  # the file or URL it was read from


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned slice of an article; `start`/`end` index `Article.text`."""

    article_id: str
    index: int
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Passage:
    """A stored chunk returned by retrieval, with its article's metadata."""

    chunk_id: str
    article_id: str
    text: str
    title: str
    date: str
    source: str
    url: str
    start: int
    end: int
    score: float = 0.0  # fused retrieval score (higher is better)
    dense: float = 0.0  # cosine similarity to the question

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Span = tuple[int, int]  # character offsets in an article's text


@dataclass(frozen=True)
class Evidence:
    """One passage of a cited article, with the sentences of it the answer rests on."""

    passage: Passage
    spans: tuple[Span, ...]  # supporting sentences, in article offsets, in article order

    def to_dict(self) -> dict[str, Any]:
        p = self.passage
        return {
            "chunk_id": p.chunk_id,
            "text": p.text,
            "start": p.start,
            "end": p.end,
            "spans": [list(x) for x in self.spans],
        }


@dataclass(frozen=True)
class Citation:
    """A source number [n] of an answer: one article, numbered 1, 2, 3... in order of
    first mention in the answer, with every passage the answer used from it."""

    n: int
    article_id: str
    title: str
    source: str  # the outlet
    date: str
    url: str
    evidence: tuple[Evidence, ...]
    supported: bool  # some answer sentence citing it is supported by it

    @property
    def spans(self) -> tuple[Span, ...]:
        """Every supporting sentence of the article, in article order."""
        return tuple(sorted({span for e in self.evidence for span in e.spans}))

    @property
    def sentences(self) -> tuple[str, ...]:
        """The supporting sentences' text, in article order."""
        out = []
        for e in self.evidence:
            p = e.passage
            out += [p.text[a - p.start : b - p.start] for a, b in e.spans]
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "article_id": self.article_id,
            "title": self.title,
            "source": self.source,
            "date": self.date,
            "url": self.url,
            "supported": self.supported,
            "passages": [e.to_dict() for e in self.evidence],
        }


@dataclass(frozen=True)
class SentenceCheck:
    """Support verdict for one sentence of an answer."""

    text: str
    start: int
    end: int
    cites: tuple[int, ...]  # source numbers ([n] markers) the sentence carries
    support: float
    supported: bool
    # The article sentences this answer sentence rests on: (source n, start, end) in
    # that article's offsets; what a click on its [n] highlights.
    rests_on: tuple[tuple[int, int, int], ...] = ()
    #: The day (ISO) the sentence reports: a date it names, else its first cited
    #: article's date; "" when neither is known.
    date: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rests_on": [list(x) for x in self.rests_on]}


#: Version of `Answer.to_dict()` (the `ask --json` and `/ask` shape); see docs/architecture.md.
ANSWER_SCHEMA = 2


@dataclass
class Answer:
    """What the core returns for one question."""

    question: str
    text: str
    refused: bool
    mode: str  # "extractive" or the model spec, e.g. "openai:gpt-4o-mini"
    standalone_question: str = ""
    #: What kind of answer the question needed (`language.question.Intent`): "lookup",
    #: "timeline", "recency", "coverage" or "enumeration".
    intent: str = "lookup"
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    sentences: list[SentenceCheck] = field(default_factory=list)
    phantom_citations: int = 0
    note: str = ""  # why the answer is what it is (a fallback, filters that hid articles)
    draft: str = ""  # a model's own text before verification (markers name passages)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def supported_share(self) -> float:
        """Share of answer sentences the verifier found supported (1.0 when none)."""
        if not self.sentences:
            return 1.0
        return sum(s.supported for s in self.sentences) / len(self.sentences)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": ANSWER_SCHEMA,
            "question": self.question,
            "standalone_question": self.standalone_question,
            "intent": self.intent,
            "answer": self.text,
            "refused": self.refused,
            "mode": self.mode,
            "note": self.note,
            "draft": self.draft,
            "citations": [c.to_dict() for c in self.citations],
            "sentences": [s.to_dict() for s in self.sentences],
            "supported_share": self.supported_share,
            "phantom_citations": self.phantom_citations,
            "passages": [p.to_dict() for p in self.passages],
            "timings": self.timings,
        }


@dataclass(frozen=True)
class StoredArticle:
    """A row of `assistant sources`."""

    id: str
    title: str
    date: str
    source: str
    url: str
    chunks: int


@dataclass
class IngestReport:
    """Counts and per-input messages of one ingestion run."""

    ingested: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line each: "<input>: <reason>"
    warnings: list[str] = field(default_factory=list)
    chunks: int = 0

    @property
    def failed(self) -> bool:
        return bool(self.skipped)

    def summary(self) -> str:
        return (
            f"ingested {len(self.ingested)}, updated {len(self.updated)}, "
            f"unchanged {len(self.unchanged)}, duplicates {len(self.duplicates)}, "
            f"skipped {len(self.skipped)} ({self.chunks} chunks written)"
        )
