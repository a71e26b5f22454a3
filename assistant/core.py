"""The answering pipeline: condense follow-up -> retrieve -> answer -> verify.

`Assistant` is the core every front end uses. Its dependencies (store,
embedder, chat model) are passed in or built from `Settings`, so tests choose
real or fake parts without patching. Generation runs as a LangChain chain
(prompt | chat model | string parser), streamed; the extractive answerer needs
no model. Whatever produced the text, `citations.verify` checks it, and the
result is one `Answer`. Front ends only render that `Answer`.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .answer import across, extractive, gate
from .answer.citations import StreamNumbering, Verified, is_refusal, verify
from .answer.followup import History, rewrite_follow_up
from .answer.generate import format_sources, format_sources_by_article, plain
from .answer.prompts import prompts
from .base.config import Settings
from .base.errors import AssistantError, ModelError
from .base.phrases import REFUSAL, format_marker
from .base.schema import Answer, Article, IngestReport, Passage
from .ingest.pipeline import Ingestor, ProgressFactory, Reporter, open_store
from .language.dates import DateIntent, spoken_date
from .language.question import Intent, Query, Question, analyse
from .models.chat import make_chat_model
from .models.embedders import Embedder, make_embedder, similarity_embedder
from .models.judge import Reranker, lazy_reranker, rounded
from .models.providers import describe_error
from .retrieval.filters import Filters
from .retrieval.retriever import Components, Retriever
from .retrieval.store import Store

_NOT_GIVEN: Any = object()
#: A question about the collection reads a few sentences of every relevant article
#: (a lookup reads `settings.judged_sentences`).
_JUDGED_ACROSS = 48


class SentenceVectors:
    """Unit vectors of sentences, cached: the same source sentences recur across questions."""

    def __init__(self, embedder: Embedder, size: int = 50_000) -> None:
        self.embedder = embedder
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, vec in zip(missing, self.embedder.embed(missing), strict=True):
                self._cache[text] = vec
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return np.vstack([self._cache[t] for t in texts]) if texts else np.zeros((0, 1))


class Assistant:
    """Cited answers over the stored articles."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        embedder: Embedder | None = None,
        chat_model: Any = _NOT_GIVEN,
        reranker: Any = _NOT_GIVEN,
        late: Any = _NOT_GIVEN,
        similarity: Embedder | None = None,
    ) -> None:
        self.settings = settings
        # The answerer first: a misspelt one fails before the embedding model loads.
        self.chat_model = make_chat_model(settings) if chat_model is _NOT_GIVEN else chat_model
        self.embedder = embedder or make_embedder(settings)
        self.store = store or open_store(settings)
        self.mode = "extractive" if self.chat_model is None else settings.llm_spec
        self.reranker: Reranker | None = (
            lazy_reranker(
                settings.reranker, cache_dir=settings.model_cache_dir, signed=settings.signed_int8
            )
            if reranker is _NOT_GIVEN
            else reranker
        )
        self.late: Reranker | None = (
            lazy_reranker(
                settings.late_reranker,
                cache_dir=settings.model_cache_dir,
                kind="late",
                signed=settings.signed_int8,
            )
            if late is _NOT_GIVEN
            else late
        )
        self.retriever = Retriever(
            self.store,
            self.embedder,
            fetch_k=settings.fetch_k,
            max_per_article=settings.max_per_article,
            components=Components(
                lexical=settings.lexical_search,
                dates=settings.date_ranking,
                diversify=settings.diversify,
                rerank_depth=settings.rerank_depth,
                rerank_mode=settings.rerank_mode,
                late_depth=settings.late_depth,
                rerank_step=settings.rerank_step,
                rerank_enough=settings.rerank_enough,
            ),
            reranker=self.reranker,
            late=self.late,
        )
        # Sentences are compared by the model the thresholds were measured with, whatever
        # model retrieval uses (models.similarity_embedder).
        self.vectors = SentenceVectors(similarity or similarity_embedder(settings, self.embedder))
        self.prompts = prompts()

    # --- ingestion ---------------------------------------------------------------
    def ingest(
        self,
        inputs: Sequence[str],
        *,
        report: Reporter = lambda _line: None,
        progress: ProgressFactory | None = None,
    ) -> IngestReport:
        return Ingestor(self.settings, self.store, self.embedder).run(
            inputs, report=report, progress=progress
        )

    def ingest_articles(self, articles: list[Article]) -> IngestReport:
        return Ingestor(self.settings, self.store, self.embedder).ingest_articles(articles)

    def ensure_seeded(self, report: Reporter = lambda _line: None) -> IngestReport | None:
        """Ingest the seed folder when the collection is empty."""
        if self.store.count() or not self.settings.seeds_dir.is_dir():
            return None
        return self.ingest([str(self.settings.seeds_dir)], report=report)

    # --- answering ---------------------------------------------------------------
    def retrieve(
        self, question: str, k: int | None = None, filters: Filters | None = None
    ) -> list[Passage]:
        return self.retriever.retrieve(question, k or self.settings.k, filters)

    def ask(self, question: str, history: History = (), filters: Filters | None = None) -> Answer:
        answer = None
        for item in self.stream(question, history, filters):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(
        self, question: str, history: History = (), filters: Filters | None = None
    ) -> Iterator[str | Answer]:
        """Text deltas as they are produced, then the verified `Answer`."""
        question = question.strip()
        if not question:
            raise AssistantError("the question is empty")
        timings: dict[str, float] = {}
        started = time.perf_counter()
        query = analyse(self.condense(question, history))
        timings["condense"] = time.perf_counter() - started
        mark = time.perf_counter()
        passages, note = self._evidence(query, filters)
        timings["retrieve"] = time.perf_counter() - mark
        mark = time.perf_counter()
        answer = Answer(question, "", False, self.mode, query.search_text, passages=passages)
        answer.intent, answer.note = query.intent.value, note
        ranked = self._sentences(query, passages)
        articles = self._articles(query, passages, ranked)
        timings["judge"] = time.perf_counter() - mark
        mark = time.perf_counter()
        generated = False
        if not self._answerable(query, passages, ranked, articles):
            answer.text, answer.refused = REFUSAL, True
            answer.note = self._hidden_by_filters(query, filters)
            yield REFUSAL
        elif self.chat_model is None:
            answer.text = self._extractive(query, passages, ranked, articles)
            answer.refused = answer.text == REFUSAL
            yield answer.text
        else:
            yield from self._streamed(answer, query, passages)
            generated = True
        timings["answer"] = time.perf_counter() - mark
        mark = time.perf_counter()
        self._verify(answer)
        if generated and (reason := self._unusable(answer, query)):
            self._fall_back(answer, query, articles, reason)
        timings["verify"] = time.perf_counter() - mark
        timings["total"] = time.perf_counter() - started
        answer.timings = {k: round(v, 4) for k, v in timings.items()}
        yield answer

    def _evidence(self, query: Question, filters: Filters | None) -> tuple[list[Passage], str]:
        """The passages to answer from, and a note when they are not what was asked for.
        A question about the collection reads more passages, a few from each article.
        "since <date>" and "before/until <date>" filter by publication date; when no
        article is in that range, the relevant articles of any date are shown instead,
        with a note saying so."""
        if not query.intent.across_articles:
            # A lookup's `since` only ever comes from "this week" or "this month" (a dated
            # "since" makes the question one about what is new) and has never limited it;
            # "before 2024" does: a 2025 article cannot say what happened before 2024.
            def narrow(scope: Filters | None) -> list[Passage]:
                return self.retriever.retrieve(
                    query.search_text, self.settings.k, scope, dates=query.dates
                )

            return _within(narrow, filters, "", query.until)
        # What is new: the newest first; other kinds are ordered by the composer.
        dates = DateIntent(order="latest" if query.intent is Intent.RECENCY else None)
        k, per = self.settings.across_passages, self.settings.across_per_article

        def wide(scope: Filters | None) -> list[Passage]:
            return self.retriever.retrieve(
                query.search_text, k, scope, per_article=per, dates=dates
            )

        found, note = _within(wide, filters, query.since, query.until)
        return self._with_ledes(found, query), note

    def _with_ledes(self, passages: list[Passage], query: Question) -> list[Passage]:
        """The passages, and after them each article's opening passage where retrieval
        missed it: a timeline, what is new and who reported it quote what each article
        reports, which news states first. (A list quotes what answers, wherever it is.)"""
        if query.intent is Intent.ENUMERATION:
            return passages
        have = {p.chunk_id for p in passages}
        extra = []
        for article in dict.fromkeys(p.article_id for p in passages):
            chunks = self.store.article_text(article)[1]
            if chunks and chunks[0].chunk_id not in have:
                extra.append(chunks[0])
        return passages + extra

    def _articles(
        self, query: Question, passages: list[Passage], ranked: list[extractive.Candidate]
    ) -> list[str]:
        """The articles a collection-level answer draws on ([] for a lookup)."""
        if not query.intent.across_articles:
            return []
        return across.relevant_articles(query, passages, ranked)

    def _answerable(
        self,
        query: Question,
        passages: list[Passage],
        ranked: list[extractive.Candidate],
        articles: list[str],
    ) -> bool:
        """A lookup passes the refusal gate. A question about the collection needs a
        relevant article, and every name it asks about somewhere in the passages; a list
        must also pass the gate as a whole (its items answer the question)."""
        if not query.intent.across_articles:
            return self._relevant(query, passages, ranked)
        if not articles or gate.absent_names(across.topic_names(query), passages):
            return False
        return query.intent is not Intent.ENUMERATION or self._relevant(query, passages, ranked)

    def _streamed(self, answer: Answer, query: Question, passages: list[Passage]) -> Iterator[str]:
        """A chat model's answer, streamed; the reader sees sources numbered by article
        while the text streams in."""
        numbering = StreamNumbering(passages)
        parts: list[str] = []
        for delta in self._generate(query, passages):
            parts.append(delta)
            if shown := numbering.feed(delta):
                yield shown
        if rest := numbering.flush():
            yield rest
        answer.draft = answer.text = "".join(parts).strip()

    def _unusable(self, answer: Answer, query: Question) -> str:
        """Why a generated answer cannot be shown ("" when it can): the articles support
        none of its sentences, it cites no article for a question about the collection,
        or its dated lines break the order the question asked for."""
        if answer.refused:
            return ""
        if answer.sentences and not any(s.supported for s in answer.sentences):
            return "was not supported by the articles"
        if query.intent.across_articles and not answer.citations:
            return "cited no article"
        if not in_order([s.date for s in answer.sentences], query.intent):
            return "did not keep the order the question asked for"
        return ""

    def _fall_back(self, answer: Answer, query: Question, articles: list[str], reason: str) -> None:
        """A generated answer that cannot be shown (`reason`) gives way to the extractive
        answer (or the refusal), with a note saying why."""
        phantoms = answer.phantom_citations
        ranked = self._sentences(query, answer.passages)
        answer.text = self._extractive(query, answer.passages, ranked, articles)
        answer.refused = answer.text == REFUSAL
        answer.sentences, answer.citations = [], []
        self._verify(answer)
        answer.phantom_citations += phantoms
        answer.note = f"The answer {self.mode} wrote {reason}; " + (
            "none of them answers this." if answer.refused else "quoting them instead."
        )

    def _hidden_by_filters(self, query: Question, filters: Filters | None) -> str:
        """When the filters hid the articles that would have answered, say so: a refusal
        with no hint reads as "the collection knows nothing about this"."""
        if filters is None or filters.empty:
            return ""
        unfiltered = self.retrieve(query.search_text)
        if not self._relevant(query, unfiltered, self._sentences(query, unfiltered)):
            return ""
        reasons: dict[str, str] = {}
        close = self._closeness(query, unfiltered)
        for p, closeness in zip(unfiltered, close, strict=True):
            reason = filters.excludes(p.source, p.date)
            if reason and closeness >= self.settings.refusal_threshold:
                reasons.setdefault(p.article_id, reason)
        if not reasons:
            return ""
        counts = Counter(reasons.values())
        parts = [f"{n} {why}" if len(counts) > 1 else why for why, n in counts.items()]
        total = len(reasons)
        noun = "article about this is" if total == 1 else "articles about this are"
        return f"{total} {noun} outside the filters ({'; '.join(parts)}): widen or clear them."

    def _sentences(self, query: Question, passages: list[Passage]) -> list[extractive.Candidate]:
        """The passages' quotable sentences, best first: by the judge when there is one
        (each read with its antecedent), else by embedding similarity and word overlap.
        A lookup keeps the judged ones only; a question about the collection keeps every
        sentence (an article's opening one may be worth quoting unjudged)."""
        ranked = extractive.candidates(query, passages, self.vectors)
        if self.reranker is None or not ranked:
            return ranked
        judge = self.reranker
        across_articles = query.intent.across_articles
        limit = _JUDGED_ACROSS if across_articles else self.settings.judged_sentences
        judged = extractive.judged(
            query,
            ranked,
            lambda q, t: rounded(judge.score(q, t)),
            limit=limit,
            step=0 if across_articles else self.settings.judged_step,
            margin=self.settings.judge_margin,
        )
        return judged + ranked[limit:] if across_articles else judged

    def _relevant(
        self, query: Question, passages: list[Passage], ranked: list[extractive.Candidate]
    ) -> bool:
        """The refusal gate (`answer/gate.py`) over these passages and judged sentences."""
        if not passages or not ranked:
            return False
        judged = [c.judge for c in ranked if c.judge is not None]
        return gate.passes(
            query,
            passages,
            closeness=self._closeness(query, passages),
            best_judge=max(judged) if judged else None,
            threshold=self.settings.refusal_threshold,
        )

    def _closeness(self, query: Question, passages: Sequence[Passage]) -> list[float]:
        """Each passage's cosine to the question by the similarity model: the retrieval
        cosine when retrieval uses that model, else computed (passages are cached)."""
        if self.vectors.embedder is self.embedder:
            return [p.dense for p in passages]
        vectors = self.vectors([query.search_text, *(p.text for p in passages)])
        return [float(v) for v in vectors[1:] @ vectors[0]]

    def _extractive(
        self,
        query: Question,
        passages: list[Passage],
        ranked: list[extractive.Candidate],
        articles: list[str],
    ) -> str:
        if query.intent.across_articles:
            text = across.compose(query, passages, ranked, self.vectors, articles)
            return text or REFUSAL
        limit = self.settings.extractive_sentences
        if ranked and ranked[0].judge is not None:
            margins = (self.settings.judge_margin, self.settings.judge_cross_margin)
            chosen = extractive.select_judged(
                ranked, self.vectors, query, limit=limit, margins=margins
            )
        else:
            chosen = extractive.select(ranked, self.vectors, limit=limit)
            if chosen and chosen[0].relevance < self.settings.refusal_threshold:
                chosen = []
        if not chosen or extractive.lacks_answer_type(query, chosen):
            return REFUSAL  # asked "when"/"how many" and no quotable sentence says it
        return extractive.compose(chosen, extractive.notes_for(query))

    def _generate(self, query: Question, passages: list[Passage]) -> Iterator[str]:
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate

        template = ChatPromptTemplate.from_messages([("system", "{system}"), ("human", "{user}")])
        assert self.chat_model is not None  # extractive mode never generates
        chain = template | self.chat_model | StrOutputParser()
        values = {"system": self.system_prompt(), "user": self.user_prompt(query, passages)}
        try:
            yield from chain.stream(values)
        except AssistantError:
            raise
        except Exception as exc:  # provider SDKs raise many types; one message for the user
            raise ModelError(f"answerer {self.mode} failed: {describe_error(exc)}") from None

    def system_prompt(self) -> str:
        return self.prompts["answer_system"].render(
            refusal=REFUSAL, citation_example=format_marker(1)
        )

    def user_prompt(self, query: Question | str, passages: Sequence[Passage]) -> str:
        """The user message: the passages and the question; a question about the
        collection gets them grouped by article, oldest first, with its kind's instruction."""
        query = query if isinstance(query, Question) else analyse(query)
        if not query.intent.across_articles:
            return self.prompts["answer_user"].render(
                sources=format_sources(passages),
                question=query.search_text,
                citation_example=format_marker(1),
            )
        return self.prompts["answer_across_user"].render(
            sources=format_sources_by_article(passages),
            question=query.search_text,
            instruction=self.prompts[f"across_{query.intent.value}"].template,
            citation_example=format_marker(1),
        )

    def _verify(self, answer: Answer) -> None:
        if answer.refused or is_refusal(answer.text):
            answer.refused = True
            answer.text = answer.text or REFUSAL
            return
        checked: Verified = verify(
            answer.text,
            answer.passages,
            embed=self.vectors,
            threshold=self.settings.support_threshold,
        )
        answer.text = checked.text
        answer.sentences = checked.sentences
        answer.citations = checked.citations
        answer.phantom_citations = checked.phantoms

    # --- follow-ups ----------------------------------------------------------------
    def condense(self, question: str, history: History) -> Query:
        """A standalone form of a follow-up question (unchanged without history)."""
        if not history:
            return Query(question)
        if self.chat_model is None:
            return rewrite_follow_up(question, history)
        lines = "\n".join(f"User: {q}\nAssistant: {plain(a)}" for q, a in history[-3:])
        prompt = self.prompts["condense"].render(history=lines, question=question)
        try:
            reply = self.chat_model.invoke(prompt)
        except Exception as exc:
            raise ModelError(f"answerer {self.mode} failed: {describe_error(exc)}") from None
        text = str(getattr(reply, "content", reply)).strip().splitlines()
        return Query(text[0].strip() if text and len(text[0]) > 3 else question)


def _within(
    retrieve: Callable[[Filters | None], list[Passage]],
    filters: Filters | None,
    since: str,
    until: str,
) -> tuple[list[Passage], str]:
    """What `retrieve` finds among articles dated from `since` to `until` (the question's
    dates, either may be ""), with `filters` too; when no article is in that range, what
    it finds in `filters` alone and a note saying the dates were not met."""
    found = retrieve(_dated(filters, since, until))
    if found or not (since or until):
        return found, ""
    if since and until:
        spans = f"from {spoken_date(since)} to {spoken_date(until)}: others are shown."
    elif since:
        spans = f"on or after {spoken_date(since)}: the newest ones are shown."
    else:
        spans = f"on or before {spoken_date(until)}: later ones are shown."
    return retrieve(filters), f"No article is dated {spans}"


def _dated(filters: Filters | None, since: str, until: str) -> Filters | None:
    """The filters narrowed to articles dated on or after `since` and on or before `until`
    (the narrower of the question's and the filters' own); `filters` itself when the
    question names no date."""
    if not (since or until):
        return filters
    base = filters or Filters()
    if since:
        base = replace(base, since=max(base.since or "", since))
    if until:
        base = replace(base, until=min(base.until or until, until))
    return base


def in_order(days: Sequence[str], intent: Intent) -> bool:
    """Whether dated lines keep the order the question asked for: oldest first for a
    timeline, newest first for what is new (undated lines are not ordered)."""
    dated = [d for d in days if d]
    if intent is Intent.TIMELINE:
        return dated == sorted(dated)
    if intent is Intent.RECENCY:
        return dated == sorted(dated, reverse=True)
    return True
