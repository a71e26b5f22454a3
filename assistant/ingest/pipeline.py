"""Ingestion: inputs -> cleaned articles -> chunks -> vectors -> the store.

Idempotent and crash-safe. Every chunk records its article's *version* (a hash
of text and metadata) and how many chunks that version has. For each article:
  * a complete copy of the same version is stored -> unchanged (stale copies of
    other versions, left by a killed run, are removed);
  * otherwise the new version is upserted first and older versions deleted
    after, so a run killed at any point leaves either the old or the new version
    complete, and the next run finishes the job without duplicates.
The same text under another id is reported as a duplicate and skipped.

Embedding is batched across articles (the embedder is the bottleneck); reading
and cleaning live in `sources.py`/`clean.py`, storage in `store.py`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..base.config import Settings
from ..base.errors import IngestError
from ..base.schema import Article, Chunk, IngestReport
from ..models.embedders import Embedder, embedding_name
from ..retrieval.filters import date_ord
from ..retrieval.store import Store, fingerprint
from .chunking import CHUNKER_VERSION, chunk_article, chunk_header, fit_header
from .sources import expand, load

#: Called with the total number of chunks to embed; returns a per-batch callback.
ProgressFactory = Callable[[int], Callable[[int], None]]
Reporter = Callable[[str], None]

_EMBED_GROUP = 512  # chunks per embed+write round: big enough to keep the model busy


def chunker_name(settings: Settings) -> str:
    """The chunking rules in force: the version, plus "+h" when headers are embedded."""
    return CHUNKER_VERSION + ("+h" if settings.embed_headers else "")


def store_fingerprint(settings: Settings) -> str:
    return fingerprint(
        embedding_name(settings),
        settings.chunk_tokens,
        settings.chunk_overlap_tokens,
        chunker_name(settings),
    )


def open_store(settings: Settings) -> Store:
    """The collection for these embedding and chunking settings (no model is loaded)."""
    description = {
        "embedding_model": embedding_name(settings),
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap_tokens": settings.chunk_overlap_tokens,
        "chunker": chunker_name(settings),
    }
    return Store(settings, store_fingerprint(settings), description)


def text_hash(article: Article) -> str:
    return hashlib.sha256(" ".join(article.text.split()).encode()).hexdigest()[:20]


def version_hash(article: Article) -> str:
    meta = json.dumps([article.title, article.date, article.source, article.url, article.text])
    return hashlib.sha256(meta.encode()).hexdigest()[:12]


@dataclass
class _Pending:
    article: Article
    version: str
    chunks: list[Chunk]
    stale_ids: list[str]
    status: str  # "ingested" or "updated"
    header: str = ""  # embedded before each chunk's text, never stored as its text

    def embedded_texts(self) -> list[str]:
        return [f"{self.header}\n{c.text}" if self.header else c.text for c in self.chunks]


class Ingestor:
    """Runs ingestion batches against one store with one embedder."""

    def __init__(self, settings: Settings, store: Store, embedder: Embedder) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.max_tokens = min(settings.chunk_tokens, embedder.max_tokens)

    def run(
        self,
        inputs: Iterable[str],
        *,
        report: Reporter = lambda _line: None,
        progress: ProgressFactory | None = None,
    ) -> IngestReport:
        """Ingest files, folders and URLs; one line per problem through `report`."""
        result = IngestReport()
        articles = self._read(list(inputs), result, report)
        pending = self._plan(articles, result, report)
        self._write(pending, result, progress)
        return result

    def ingest_articles(self, articles: list[Article]) -> IngestReport:
        """Ingest already-built articles (benchmarks, tests, other front ends)."""
        result = IngestReport()
        self._write(self._plan(articles, result, lambda _line: None), result, None)
        return result

    # --- phase 1: read --------------------------------------------------------
    def _read(self, inputs: list[str], result: IngestReport, report: Reporter) -> list[Article]:
        max_bytes = int(self.settings.max_file_mb * 1_000_000)
        articles: list[Article] = []
        for item in expand(inputs):
            if isinstance(item, IngestError):
                self._skip(result, report, str(item))
                continue
            try:
                loaded = load(item, max_bytes=max_bytes, timeout=self.settings.fetch_timeout)
            except IngestError as exc:
                self._skip(result, report, str(exc))
                continue
            except OSError as exc:
                self._skip(result, report, f"{item}: cannot read ({exc.strerror or exc})")
                continue
            for warning in loaded.warnings:
                result.warnings.append(warning)
                report(f"warning: {warning}")
            for error in loaded.errors:
                self._skip(result, report, error)
            articles.extend(loaded.articles)
        return articles

    @staticmethod
    def _skip(result: IngestReport, report: Reporter, line: str) -> None:
        result.skipped.append(line)
        report(f"skipped: {line}")

    # --- phase 2: decide what to write -----------------------------------------
    def _plan(
        self, articles: list[Article], result: IngestReport, report: Reporter
    ) -> list[_Pending]:
        seen_ids: dict[str, str] = {}
        seen_text: dict[str, str] = {}
        pending: list[_Pending] = []
        for article in articles:
            if article.id in seen_ids:
                self._skip(
                    result,
                    report,
                    f"{article.origin}: id '{article.id}' is already used by "
                    f"{seen_ids[article.id]} in this run",
                )
                continue
            seen_ids[article.id] = article.origin
            thash = text_hash(article)
            twin = seen_text.get(thash) or self._stored_twin(thash, article.id)
            if twin:
                result.duplicates.append(article.id)
                report(f"duplicate: {article.origin}: same text as article '{twin}', skipped")
                continue
            seen_text[thash] = article.id
            item = self._plan_one(article, result)
            if item:
                pending.append(item)
        return pending

    def _stored_twin(self, thash: str, article_id: str) -> str | None:
        for _, meta in self.store.chunk_meta({"text_hash": thash}):
            if meta.get("article_id") != article_id:
                return str(meta["article_id"])
        return None

    def _plan_one(self, article: Article, result: IngestReport) -> _Pending | None:
        version = version_hash(article)
        stored = self.store.chunk_meta({"article_id": article.id})
        same = [m for _, m in stored if m.get("version") == version]
        stale = [cid for cid, m in stored if m.get("version") != version]
        complete = bool(same) and len(same) == int(same[0].get("n_chunks", -1))
        if complete:
            self.store.delete(stale)  # leftovers of an interrupted update
            (result.updated if stale else result.unchanged).append(article.id)
            return None
        header, header_tokens = self._header(article)
        chunks = chunk_article(
            article,
            # The header shares the model's window with the text, not the passage budget.
            max_tokens=min(self.max_tokens, self.embedder.max_tokens - header_tokens),
            overlap_tokens=self.settings.chunk_overlap_tokens,
            count_tokens=self.embedder.count_tokens,
        )
        status = "updated" if stale else "ingested"
        return _Pending(article, version, chunks, stale, status, header)

    def _header(self, article: Article) -> tuple[str, int]:
        """The article's chunk header and the word pieces it takes from the window."""
        if not self.settings.embed_headers:
            return "", 0
        return fit_header(chunk_header(article.title, article.date), self.embedder.count_tokens)

    # --- phase 3: embed and write ------------------------------------------------
    def _write(
        self, pending: list[_Pending], result: IngestReport, progress: ProgressFactory | None
    ) -> None:
        total = sum(len(p.chunks) for p in pending)
        tick = progress(total) if progress and total else None
        group: list[_Pending] = []
        size = 0
        for item in pending:
            group.append(item)
            size += len(item.chunks)
            if size >= _EMBED_GROUP:
                self._write_group(group, result, tick)
                group, size = [], 0
        if group:
            self._write_group(group, result, tick)

    def _write_group(
        self, group: list[_Pending], result: IngestReport, tick: Callable[[int], None] | None
    ) -> None:
        texts = [c.text for item in group for c in item.chunks]
        vectors = self.embedder.embed(
            [t for item in group for t in item.embedded_texts()], progress=tick
        )
        ids = [f"{i.article.id}#{i.version}#{c.index}" for i in group for c in i.chunks]
        metas = [self._metadata(item, c) for item in group for c in item.chunks]
        # One write for the whole group (each Chroma call has a fixed cost), and only after
        # every new version is complete do older versions go: a run killed in between
        # leaves both, and the next run's plan removes the stale ones.
        self.store.upsert(ids, vectors, texts, metas)
        self.store.delete([cid for item in group for cid in item.stale_ids])
        for item in group:
            result.chunks += len(item.chunks)
            (result.updated if item.status == "updated" else result.ingested).append(
                item.article.id
            )

    @staticmethod
    def _metadata(item: _Pending, chunk: Chunk) -> dict[str, Any]:
        a = item.article
        return {
            "article_id": a.id,
            "title": a.title,
            "date": a.date,
            "date_ord": date_ord(a.date),
            "source": a.source,
            "url": a.url,
            "origin": a.origin,
            "start": chunk.start,
            "end": chunk.end,
            "chunk_index": chunk.index,
            "n_chunks": len(item.chunks),
            "version": item.version,
            "text_hash": text_hash(a),
        }


def remove_article(store: Store, article_id: str) -> int:
    """Delete every chunk of one article; returns how many were removed."""
    ids = [cid for cid, _ in store.chunk_meta({"article_id": article_id})]
    store.delete(ids)
    return len(ids)
