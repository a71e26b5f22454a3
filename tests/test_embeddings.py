"""The packaged embedding model: the transformers fast path equals sentence-transformers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from conftest import SEEDS

from assistant.models import LocalEmbeddings, _is_mean_pooled, packaged_model_dir


def test_fast_path_vectors_equal_sentence_transformers() -> None:
    """The mean-pooled path skips importing sentence-transformers (seconds of every cold
    start) but must give the vectors the library gives, or stored collections would not
    match new questions."""
    folder = packaged_model_dir("all-MiniLM-L6-v2")
    assert _is_mean_pooled(folder)
    texts = [p.read_text(encoding="utf-8")[:2500] for p in sorted(SEEDS.glob("*.txt"))]
    texts += ["Who did Zarif meet in Baghdad?", "word " * 400]  # the last one is truncated
    fast = LocalEmbeddings("m", folder, precision="fp32")
    from sentence_transformers import SentenceTransformer

    library = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    expected = library.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    got = fast.embed(texts)
    assert got.shape == expected.shape == (len(texts), 384)
    assert float(np.abs(got - expected).max()) < 1e-5
    assert fast.max_tokens == 254


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
