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


@dataclass(frozen=True)
class Citation:
    """One [n] marker of an answer, resolved to a passage and a sentence in it."""

    n: int
    passage: Passage
    sentence: str  # the best-supporting sentence of the passage
    span: tuple[int, int]  # that sentence's character span in the article text
    supported: bool
    # Every passage sentence that best supports some answer sentence citing [n], in
    # article order (an answer may quote two sentences of one passage); includes `span`.
    spans: tuple[tuple[int, int], ...] = ()

    def all_spans(self) -> tuple[tuple[int, int], ...]:
        return self.spans or (self.span,)

    def to_dict(self) -> dict[str, Any]:
        p = self.passage
        return {
            "n": self.n,
            "article_id": p.article_id,
            "title": p.title,
            "source": p.source,
            "date": p.date,
            "url": p.url,
            "passage": p.text,
            "sentence": self.sentence,
            "span": list(self.span),
            "spans": [list(x) for x in self.all_spans()],
            "supported": self.supported,
        }


@dataclass(frozen=True)
class SentenceCheck:
    """Support verdict for one sentence of an answer."""

    text: str
    start: int
    end: int
    cites: tuple[int, ...]
    support: float
    supported: bool


@dataclass
class Answer:
    """What the core returns for one question."""

    question: str
    text: str
    refused: bool
    mode: str  # "extractive" or the model spec, e.g. "openai:gpt-4o-mini"
    standalone_question: str = ""
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    sentences: list[SentenceCheck] = field(default_factory=list)
    phantom_citations: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def supported_share(self) -> float:
        """Share of answer sentences the verifier found supported (1.0 when none)."""
        if not self.sentences:
            return 1.0
        return sum(s.supported for s in self.sentences) / len(self.sentences)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "answer": self.text,
            "refused": self.refused,
            "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "sentences": [asdict(s) for s in self.sentences],
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
