"""The Chroma store (embedded or a `chroma run` server) and its lexical twin.

The only module that imports chromadb. One collection per embedding model and
chunking configuration: its name carries a fingerprint of both, so switching
either never mixes incompatible vectors, and `stale_collections()` tells the
front ends when a re-ingest is needed. Vectors are always computed by our own
embedder and passed in: Chroma's built-in default would download a model.

Each chunk's metadata carries its article's id, title, date, outlet, url, the
article version it belongs to and how many chunks that version has, so an
interrupted write is detectable (and repaired by `ingest.py`).

Every write takes the next write sequence (kept with the revision token in the
collection's metadata) and stamps it on the chunks it stores (`seq`); every
deletion leaves a tombstone with its own sequence in a small side collection
(`<name>.deleted`). So the BM25 side (`lexical.LexicalCache`, saved under
`<data_dir>/bm25/`) of any process, on any host, catches up with the writes it
did not make by reading only what changed. Which chunks the index holds is the
cache's decision; the store supplies state, changes and chunks. Tombstones are
pruned to the newest few (`KEEP_TOMBSTONES`); the collection's metadata says up to
which sequence they may be gone (`deleted_floor`), so an index that last caught up
before that compares ids instead of trusting the tombstones it can still read.

With a Chroma server, the followed feeds live beside the collection too (`FeedRecords`:
a side collection `<collection>.feeds`), so every host sharing the server follows the
same feeds; `ingest.subscriptions` decides what the records mean.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..base.config import Settings
from ..base.errors import StoreError
from ..base.schema import Passage, StoredArticle
from .filters import Filters, date_ord
from .lexical import ChunkRows, LexicalCache, LexicalRows, SourceState

_PAGE = 2000
#: Collection metadata key that every write through `Store` renews (see `_touch`).
_REVISION = "revision"
#: Collection metadata key: the last write sequence handed out (see `_begin_write`).
_SEQUENCE = "write_seq"
#: Suffix of the side collection that records deletions (chunk id → sequence).
_DELETED = ".deleted"
#: Collection metadata key: tombstones with a sequence up to this one may have been pruned.
_DELETED_FLOOR = "deleted_floor"
#: Tombstones kept by pruning (the newest by sequence). A follower whose index last caught
#: up within the last this-many deletions catches up from tombstones alone; one further
#: behind pays an id comparison (~1-2 s at 100k chunks). 10k deletions are several full
#: updates of a day's news, far more than a live process falls behind, yet the side
#: collection stays a few MB. Pruning waits until twice this many are held, so each
#: prune's cost (reading every tombstone's sequence) is amortised over N deletions.
KEEP_TOMBSTONES = 10_000
#: Suffix of the side collection that holds the followed feeds (see `FeedRecords`).
_FEEDS = ".feeds"


def fingerprint(embedding_name: str, chunk_tokens: int, overlap: int, chunker: str) -> str:
    key = f"{embedding_name}|{chunk_tokens}|{overlap}|{chunker}"
    return hashlib.sha1(key.encode()).hexdigest()[:10]


class Store:
    """Chunks of articles in one Chroma collection, plus a BM25 index over them."""

    def __init__(
        self,
        settings: Settings,
        fingerprint_: str,
        description: dict[str, Any],
        *,
        keep_tombstones: int = KEEP_TOMBSTONES,
    ) -> None:
        self.settings = settings
        self.keep_tombstones = max(1, keep_tombstones)
        self.fingerprint = fingerprint_
        self.name = f"{settings.collection}-{fingerprint_}"
        self._client = _Guarded(_connect(settings), self._failure)
        self._collection = self._client.get_or_create_collection(
            name=self.name,
            metadata={"hnsw:space": "cosine", **description},
            embedding_function=None,
        )
        self._deleted = self._client.get_or_create_collection(
            name=self.name + _DELETED, embedding_function=None
        )
        self._lexical = LexicalCache(settings.data_dir / "bm25" / self._place())
        self._widen_search(settings.search_ef)

    def _widen_search(self, breadth: int) -> None:
        """Set the HNSW search breadth (ef_search) on a new or an older collection.

        Chroma's graph index is approximate and its build is not reproducible: two ingests
        of the same RealTime QA week, with bit-identical vectors, returned different dense
        top 40s for 2 of 30 questions at Chroma's default breadth of 100, neither of them
        the exact top 40. A breadth well above `fetch_k` makes the search exact in practice,
        so the same articles give the same passages on every build and machine
        (docs/reliability.md, "What it survives"). It takes effect for an embedded store
        and for a new collection on a Chroma server at once; a running `chroma run` that
        has already loaded an older collection's index keeps its old breadth until it loads
        the index again (measured: 19 of 20 queries still inexact after the change; restart
        the server once)."""
        hnsw = (getattr(self._collection, "configuration", None) or {}).get("hnsw") or {}
        if hnsw.get("ef_search") != breadth:
            self._collection.modify(configuration={"hnsw": {"ef_search": breadth}})

    def _failure(self, exc: Exception) -> StoreError:
        return _failure(self.location, exc)

    def _place(self) -> str:
        """Where the saved BM25 copy of this collection lives, under `<data_dir>/bm25/`:
        `<name>` beside an embedded Chroma, `<host>-<port>/<name>` for a server's."""
        server = self.settings.chroma_server()
        return self.name if not server else f"{server[0]}-{server[1]}/{self.name}"

    @property
    def location(self) -> str:
        return _location(self.settings)

    # --- writing -------------------------------------------------------------
    def upsert(
        self,
        ids: Sequence[str],
        embeddings: np.ndarray,
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        batch = max(1, min(5000, self._client.get_max_batch_size()))
        seq = self._begin_write()
        stamped = [{**meta, "seq": seq} for meta in metadatas]
        for i in range(0, len(ids), batch):
            self._collection.upsert(
                ids=list(ids[i : i + batch]),
                embeddings=embeddings[i : i + batch],
                documents=list(documents[i : i + batch]),
                metadatas=stamped[i : i + batch],
            )
        self._touch()

    def delete(self, ids: Sequence[str]) -> None:
        """Delete chunks, then record their tombstones: a run killed in between leaves the
        BM25 side holding chunks Chroma lost, which its count check repairs (never the
        reverse, a tombstone hiding a stored chunk). Then prune old tombstones."""
        if not ids:
            return
        seq = self._begin_write()
        self._collection.delete(ids=list(ids))
        batch = max(1, min(5000, self._client.get_max_batch_size()))
        for i in range(0, len(ids), batch):
            part = list(ids[i : i + batch])
            self._deleted.upsert(
                ids=part, embeddings=[[1.0]] * len(part), metadatas=[{"seq": seq}] * len(part)
            )
        self._touch()
        self._prune_tombstones()

    def _prune_tombstones(self) -> None:
        """Keep the newest `keep_tombstones` tombstones (whole deletions: the oldest kept
        deletion keeps all its chunks), once more than twice as many are held. The new
        `deleted_floor` is written before any tombstone goes, so a reader that finds
        tombstones missing always finds the floor saying so (`LexicalCache` then compares
        ids). The floor only ever rises."""
        keep = self.keep_tombstones
        if int(self._deleted.count()) <= 2 * keep:
            return
        seqs = sorted(
            (
                int(meta.get("seq", 0))
                for _, _, meta in self._paged(self._deleted, None, ["metadatas"])
            ),
            reverse=True,
        )
        if len(seqs) <= keep:
            return  # another writer pruned meanwhile
        meta = self._metadata()
        floor = max(seqs[keep - 1] - 1, int(meta.get(_DELETED_FLOOR, -1)))
        if floor < 0:
            return
        self._collection.modify(metadata={**meta, _DELETED_FLOOR: floor})
        self._deleted.delete(where={"seq": {"$lte": floor}})
        # A writer that read the metadata before our write and wrote it after (its own
        # sequence or revision) dropped the floor: write it again, so the window in which
        # a reader could miss it is this short one (the count check covers it).
        meta = self._metadata()
        if int(meta.get(_DELETED_FLOOR, -1)) < floor:
            self._collection.modify(metadata={**meta, _DELETED_FLOOR: floor})

    def _metadata(self) -> dict[str, Any]:
        """The collection's metadata as the server holds it now (another process may have
        written since this one opened it). Chroma keeps the distance function in the
        collection's configuration; its metadata may not restate it."""
        got = self._client.get_collection(self.name, embedding_function=None)
        return {k: v for k, v in (got.metadata or {}).items() if not k.startswith("hnsw:")}

    def _begin_write(self) -> int:
        """Take the next write sequence and renew the revision; returns the sequence. Two
        writers racing may take the same number: readers settle by time and count, not by
        trusting sequences to be unique (see `lexical.LexicalCache`)."""
        meta = self._metadata()
        seq = int(meta.get(_SEQUENCE, 0)) + 1
        self._collection.modify(metadata={**meta, _SEQUENCE: seq, _REVISION: uuid.uuid4().hex})
        return seq

    def _touch(self) -> None:
        """Give the collection a new revision, so every process (on any machine) that holds
        a BM25 index of it knows to catch up. Writes renew it before and after: a write
        that dies halfway still leaves a revision no earlier index has."""
        meta = self._metadata()
        self._collection.modify(metadata={**meta, _REVISION: uuid.uuid4().hex})

    # --- reading -------------------------------------------------------------
    def count(self) -> int:
        return int(self._collection.count())

    def chunk_meta(self, where: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """(id, metadata) of every chunk matching `where`."""
        got = self._collection.get(where=where, include=["metadatas"])
        return list(zip(got["ids"], got["metadatas"] or [], strict=True))

    def iter_chunks(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every stored chunk (id, text, metadata), paged."""
        offset = 0
        while True:
            got = self._collection.get(
                include=["documents", "metadatas"], limit=_PAGE, offset=offset
            )
            ids = got["ids"]
            if not ids:
                return
            yield from zip(ids, got["documents"] or [], got["metadatas"] or [], strict=True)
            offset += len(ids)

    def article_text(self, article_id: str) -> tuple[str, list[Passage]]:
        """The cleaned article text rebuilt from its chunks (offsets place them), and the chunks."""
        got = self._collection.get(
            where={"article_id": article_id}, include=["documents", "metadatas"]
        )
        passages = sorted(
            (
                to_passage(cid, doc, meta)
                for cid, doc, meta in zip(
                    got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
                )
            ),
            key=lambda p: p.start,
        )
        if not passages:
            return "", []
        buffer = [" "] * max(p.end for p in passages)
        for p in passages:
            buffer[p.start : p.end] = list(p.text)
        return "".join(buffer), passages

    def articles(self) -> list[StoredArticle]:
        """Stored articles with their chunk counts, oldest first (unknown dates last)."""
        rows: dict[str, dict[str, Any]] = {}
        for _, _, meta in self.iter_chunks():
            row = rows.setdefault(meta["article_id"], {**meta, "chunks": 0})
            row["chunks"] += 1
        articles = [
            StoredArticle(
                id=aid,
                title=str(m.get("title", "")),
                date=str(m.get("date", "unknown")),
                source=str(m.get("source", "")),
                url=str(m.get("url", "")),
                chunks=int(m["chunks"]),
            )
            for aid, m in rows.items()
        ]
        return sorted(articles, key=lambda a: (a.date == "unknown", a.date, a.id), reverse=False)

    def dense_search(
        self, vector: Sequence[float], n: int, filters: Filters
    ) -> list[tuple[Passage, float]]:
        """Nearest chunks by cosine similarity; (passage, similarity)."""
        total = self.count()
        if total == 0:
            return []
        got = self._collection.query(
            query_embeddings=[list(vector)],
            n_results=min(n, total),
            where=_where(filters),
            include=["documents", "metadatas", "distances"],
        )
        docs = (got["documents"] or [[]])[0]
        metas = (got["metadatas"] or [[]])[0]
        dists = (got["distances"] or [[]])[0]
        return [
            (to_passage(cid, doc, meta), 1.0 - float(dist))
            for cid, doc, meta, dist in zip(got["ids"][0], docs, metas, dists, strict=True)
        ]

    def similarities(self, vector: Sequence[float], ids: Sequence[str]) -> dict[str, float]:
        """Cosine similarity of stored chunks to a unit query vector."""
        if not ids:
            return {}
        got = self._collection.get(ids=list(ids), include=["embeddings"])
        matrix = np.asarray(got["embeddings"], dtype=np.float32)
        sims = matrix @ np.asarray(vector, dtype=np.float32)
        return {cid: float(sim) for cid, sim in zip(got["ids"], sims, strict=True)}

    def lexical_search(self, query: str, n: int, filters: Filters) -> list[tuple[Passage, float]]:
        hits = self._lexical.search(self, query, n, filters)
        if not hits:
            return []
        got = self._collection.get(ids=[cid for cid, _ in hits], include=["documents", "metadatas"])
        found = {
            cid: (doc, meta)
            for cid, doc, meta in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
            )
        }
        # A chunk deleted since the index caught up is skipped, not returned stale.
        return [(to_passage(cid, *found[cid]), score) for cid, score in hits if cid in found]

    def known_sources(self) -> list[str]:
        return sorted(self._lexical.sources(self))

    def warm(self) -> None:
        """Load or build the BM25 index now (a server calls this at start, so the first
        question does not wait for a first build: ~25 s at 100k chunks)."""
        self._lexical_index()

    def _lexical_index(self) -> LexicalRows:
        """The BM25 index of the collection as it is now (see `LexicalCache`)."""
        return self._lexical.get(self)

    # --- what the lexical cache reads (`lexical.ChunkSource`) -------------------
    def lexical_state(self) -> SourceState:
        got = self._client.get_collection(self.name, embedding_function=None)
        meta = got.metadata or {}
        return SourceState(
            collection=str(got.id),
            revision=str(meta.get(_REVISION, "")),
            count=int(got.count()),
            sequence=int(meta.get(_SEQUENCE, 0)),
            deleted_floor=int(meta.get(_DELETED_FLOOR, -1)),
        )

    def chunks_since(self, sequence: int) -> ChunkRows:
        if sequence < 0:
            return self.iter_chunks()
        return self._paged(self._collection, {"seq": {"$gt": sequence}}, ["documents", "metadatas"])

    def deleted_since(self, sequence: int) -> list[tuple[str, int]]:
        where = {"seq": {"$gt": sequence}}
        return [
            (cid, int(meta.get("seq", 0)))
            for cid, _, meta in self._paged(self._deleted, where, ["metadatas"])
        ]

    def chunk_ids(self) -> list[str]:
        return [cid for cid, _, _ in self._paged(self._collection, None, [])]

    def chunks_by_id(self, ids: Sequence[str]) -> ChunkRows:
        for i in range(0, len(ids), _PAGE):
            got = self._collection.get(
                ids=list(ids[i : i + _PAGE]), include=["documents", "metadatas"]
            )
            yield from zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True)

    @staticmethod
    def _paged(
        collection: Any, where: dict[str, Any] | None, include: list[str]
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(id, document or "", metadata or {}) of every record matching `where`, paged."""
        offset = 0
        while True:
            got = collection.get(where=where, include=include, limit=_PAGE, offset=offset)
            ids = got["ids"]
            if not ids:
                return
            docs = got.get("documents") or [""] * len(ids)
            metas = got.get("metadatas") or [{}] * len(ids)
            yield from zip(ids, docs, metas, strict=True)
            offset += len(ids)

    # --- other configurations -------------------------------------------------
    def stale_collections(self) -> list[tuple[str, int]]:
        """Collections of the same name under other settings: (name, chunk count)."""
        prefix = f"{self.settings.collection}-"
        out = []
        for item in self._client.list_collections():
            name = getattr(item, "name", item)
            if name.startswith(prefix) and name != self.name and not name.endswith(_DELETED):
                try:
                    out.append((name, int(self._client.get_collection(name).count())))
                except Exception:  # an unreadable neighbour must not break this one
                    continue
        return out


class FeedRecords:
    """Records of the followed feeds in the side collection `<collection>.feeds`: one per
    (kind, key), its id the kind and a hash of the key, the record itself as JSON in the
    document. Writes are upserts by id, so two hosts writing the same record write it
    once. No vectors: each record carries a one-number placeholder, so Chroma never
    embeds anything (its default embedder would download a model)."""

    def __init__(self, settings: Settings) -> None:
        self.location = _location(settings)
        client = _Guarded(_connect(settings), lambda exc: _failure(self.location, exc))
        self._records = client.get_or_create_collection(
            name=settings.collection + _FEEDS, embedding_function=None
        )

    def feeds_read(self) -> list[tuple[str, str, str]]:
        """Every record: (kind, key, JSON)."""
        rows = Store._paged(self._records, None, ["documents", "metadatas"])
        return [(str(m.get("kind", "")), str(m.get("key", "")), doc or "") for _, doc, m in rows]

    def feeds_present(self, kind: str, keys: Sequence[str]) -> set[str]:
        """Which of `keys` have a record of `kind` now."""
        if not keys:
            return set()
        got = self._records.get(ids=[_feed_id(kind, k) for k in keys], include=["metadatas"])
        return {str(m.get("key", "")) for m in got["metadatas"] or []}

    def feeds_write(self, kind: str, records: dict[str, str]) -> None:
        """Upsert records of `kind` (key -> JSON)."""
        keys = list(records)
        for i in range(0, len(keys), _PAGE):
            part = keys[i : i + _PAGE]
            self._records.upsert(
                ids=[_feed_id(kind, k) for k in part],
                embeddings=[[1.0]] * len(part),
                documents=[records[k] for k in part],
                metadatas=[{"kind": kind, "key": k} for k in part],
            )

    def feeds_delete(self, kind: str, keys: Sequence[str]) -> None:
        if keys:
            self._records.delete(ids=[_feed_id(kind, k) for k in keys])


def _feed_id(kind: str, key: str) -> str:
    return f"{kind}:{hashlib.sha1(key.encode()).hexdigest()}"


def _location(settings: Settings) -> str:
    """The server's address, or the embedded store's folder."""
    server = settings.chroma_server()
    if server:
        host, port, ssl = server
        return f"{'https' if ssl else 'http'}://{host}:{port}"
    return str(settings.data_dir)


def _failure(location: str, exc: Exception) -> StoreError:
    """One line for a failed Chroma call: a lost server is named with its address, so
    the person at the page or the terminal knows what to start again."""
    if _unreachable(exc):
        return StoreError(f"the Chroma server at {location} is not reachable: {_short(exc)}")
    return StoreError(f"Chroma ({location}) failed: {_short(exc)}")


def to_passage(chunk_id: str, text: str, meta: dict[str, Any], score: float = 0.0) -> Passage:
    return Passage(
        chunk_id=chunk_id,
        article_id=str(meta.get("article_id", "")),
        text=text,
        title=str(meta.get("title", "")),
        date=str(meta.get("date", "unknown")),
        source=str(meta.get("source", "")),
        url=str(meta.get("url", "")),
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        score=score,
    )


def _where(filters: Filters) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if filters.sources:
        clauses.append({"source": {"$in": list(filters.sources)}})
    if filters.since:
        clauses.append({"date_ord": {"$gte": date_ord(filters.since)}})
    if filters.until:
        clauses.append({"date_ord": {"$lte": date_ord(filters.until)}})
        clauses.append({"date_ord": {"$gt": 0}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class _Guarded:
    """A Chroma client or collection whose every call turns a failure into a StoreError
    (and whose results that are collections are guarded too): no httpx traceback
    reaches a front end, and the next call simply tries the server again."""

    def __init__(self, target: Any, failure: Any) -> None:
        self._target = target
        self._fail = failure

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = value(*args, **kwargs)
            except StoreError:
                raise
            except Exception as exc:
                raise self._fail(exc) from None
            return _Guarded(result, self._fail) if hasattr(result, "upsert") else result

        return call


def _unreachable(exc: BaseException) -> bool:
    """A connection refused, reset or timed out (the server is down, restarting or slow)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = str(exc).lower()
    return bool(
        names & {"ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError",
                 "ReadError", "WriteError", "TimeoutException", "ConnectionError", "OSError"}
        or "could not connect" in text
        or "connection refused" in text
    )  # fmt: skip


def _connect(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    server = settings.chroma_server()
    try:
        if server:
            host, port, ssl = server
            client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chroma_settings)
            _bound_requests(client, settings.chroma_timeout)
            client.heartbeat()
            return client
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.data_dir), settings=chroma_settings)
    except Exception as exc:
        if server:
            url = f"{'https' if server[2] else 'http'}://{server[0]}:{server[1]}"
            raise StoreError(
                f"the Chroma server at {url} is not reachable: {_short(exc)}"
            ) from None
        raise StoreError(
            f"Chroma folder {settings.data_dir} is not usable: {_short(exc)}"
        ) from None


def _bound_requests(client: Any, seconds: float) -> None:
    """Give the HTTP client a timeout: chromadb's own waits forever for a hung server.
    It keeps its httpx session on a private attribute; if that moves, requests stay
    unbounded rather than failing."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(seconds, connect=min(seconds, 5.0))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
