"""The command line loads only what a command needs: `sources`, `remove` and `--help` never
import the embedding runtime, the reranker, LangChain or Gradio, and a refused argument is
refused before the store or any model is opened.

Asserted on what the child process imported and built (its `sys.modules`, the embedder and
reranker caches), never on time: `benchmarks/ask.py` measures the time. The controls at the
end show that the probe sees each kind of load, so every "was not loaded" here can fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import SEEDS

from assistant.models.embedders import LocalEmbeddings, packaged_model_dir

#: Libraries no command that does not answer may import.
HEAVY = (
    "torch",
    "transformers",
    "sentence_transformers",
    "onnxruntime",
    "langchain_core",
    "langchain_openai",
    "gradio",
)
#: Modules of the package that belong to answering (the reranker, the pipeline, the web).
ANSWERING = (
    "assistant.models.judge",
    "assistant.core",
    "assistant.retrieval.retriever",
    "assistant.web.app",
)
#: Libraries that a refused argument or `--help` must not reach either.
STORE = ("chromadb",)
WATCHED = HEAVY + ANSWERING + STORE + ("pydantic", "numpy")

# Runs the CLI in a fresh interpreter exactly as the `assistant` script does (argv from the
# command line), then reports which watched modules it imported and which models it built.
# PROBE_PRELOAD names modules to import first: the controls use it to show the probe sees them.
_PROBE = """
import json, os, sys
for name in filter(None, os.environ.get("PROBE_PRELOAD", "").split(",")):
    __import__(name)
from assistant.cli import main
sys.argv = ["assistant", *sys.argv[1:]]
try:
    code = main()
except SystemExit as exit:
    code = exit.code
models = sys.modules.get("assistant.models.embedders")
rerank = sys.modules.get("assistant.models.judge")
print("PROBE " + json.dumps({{
    "code": code,
    "loaded": sorted(m for m in {watched!r} if m in sys.modules),
    "embedders": len(models._EMBEDDER_CACHE) if models else 0,
    "rerankers": len(rerank._CACHE) if rerank else 0,
}}))
"""


def _probe(data: Path, *args: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(watched=WATCHED), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "ASSISTANT_DATA_DIR": str(data),
            "ASSISTANT_LLM": "extractive",
            "PATH": "/usr/bin:/bin",
            "HOME": str(data),
            # A checkout put first on the path is the one probed (the editable install else).
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            **(env or {}),
        },
        cwd=data,
    )
    output = done.stdout + done.stderr
    line = next((x for x in done.stdout.splitlines() if x.startswith("PROBE ")), None)
    assert line is not None, output
    return json.loads(line[6:]), output


def _heavy(result: dict[str, Any]) -> list[str]:
    return [m for m in result["loaded"] if m in HEAVY + ANSWERING]


@pytest.fixture(scope="module")
def data(seeded_dir: Path) -> Path:
    return seeded_dir


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("sources",), 0, "5 articles"),
        (("sources", "--json"), 0, '"chunks"'),
        (("remove", "no-such-article"), 1, "no stored article with id 'no-such-article'"),
    ],
)
def test_store_commands_open_the_store_and_nothing_else(
    data: Path, args: tuple[str, ...], code: int, says: str
) -> None:
    result, output = _probe(data, *args)
    assert result["code"] == code, output
    assert says in output
    assert _heavy(result) == [], f"{' '.join(args)} imported {_heavy(result)}"
    assert (result["embedders"], result["rerankers"]) == (0, 0)
    assert "chromadb" in result["loaded"], "the store was not read at all"


def test_remove_deletes_an_article_without_loading_a_model(data: Path, tmp_path: Path) -> None:
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    listed, output = _probe(copy, "sources", "--json")
    first = json.loads(_json_part(output))[0]["id"]
    result, output = _probe(copy, "remove", first)
    assert result["code"] == 0, output
    assert f"removed {first} (" in output
    assert _heavy(result) == [], f"remove imported {_heavy(result)}"
    assert (result["embedders"], result["rerankers"]) == (0, 0)
    after, output = _probe(copy, "sources")
    assert listed["code"] == after["code"] == 0, output
    assert "4 articles" in output and first not in output


def _json_part(output: str) -> str:
    """The JSON array `sources --json` printed, without the probe's own line."""
    return "\n".join(x for x in output.splitlines() if not x.startswith("PROBE "))


def test_help_imports_no_library(data: Path) -> None:
    result, output = _probe(data, "--help")
    assert result["code"] == 0, output
    assert "Cited answers" in output and "sources" in output
    assert result["loaded"] == [], f"--help imported {result['loaded']}"


@pytest.mark.parametrize(
    ("args", "env", "code", "says"),
    [
        (("ask", "Who?", "--since", "last tuesday"), {}, 1, "--since 'last tuesday' is not a date"),
        (("ask", "q", "--since", "2024-99-99"), {}, 1, "--since '2024-99-99' is not a date"),
        (("ask", "Who?", "--since", "2025-01-01", "--until", "2024-01-01"), {}, 1, "is after"),
        (("ask", "Who?", "--llm", "gpt4"), {}, 1, "choose one of extractive"),
        (("ask", "Who?"), {"ASSISTANT_RERANKER": "bogus"}, 1, "unknown reranker 'bogus'"),
        (
            ("ask", "Who?"),
            {"ASSISTANT_LATE_RERANKER": "local:ms-marco-MiniLM-L-12-v2"},
            1,
            "unknown late-interaction model 'local:ms-marco-MiniLM-L-12-v2'",
        ),
        (("ask", "Who?"), {"ASSISTANT_EMBEDDINGS": "hub:x"}, 1, "unknown embedding model"),
        (("ask", "Who?", "-k", "0"), {}, 2, "setting k"),
        (("chat", "--until", "2024-13-01"), {}, 1, "--until '2024-13-01' is not a date"),
        (("ask",), {}, 2, "the following arguments are required: question"),
        (("sources", "--no-such-flag"), {}, 2, "unrecognized arguments"),
    ],
)
def test_a_refused_argument_opens_neither_store_nor_model(
    data: Path, args: tuple[str, ...], env: dict[str, str], code: int, says: str
) -> None:
    result, output = _probe(data, *args, env=env)
    assert result["code"] == code, output
    assert says in output
    assert [m for m in result["loaded"] if m in HEAVY + STORE + ("assistant.core",)] == [], (
        f"{' '.join(args)} imported {result['loaded']} before refusing"
    )
    assert (result["embedders"], result["rerankers"]) == (0, 0)


# --- controls: the probe does see each kind of load ----------------------------------------
def test_asking_loads_the_embedding_model_and_the_reranker(data: Path, tmp_path: Path) -> None:
    """A real question (reranker on, the default) imports the embedding runtime and the
    cross-encoder's, and builds both: the "nothing loaded" assertions above can fail.
    Once the data folder holds the embedding model's ONNX copy (made at the first ingest),
    answering needs neither torch nor transformers, seconds of every cold `ask`."""
    shutil.copytree(data, tmp_path / "data")
    models = tmp_path / "data" / "models"
    LocalEmbeddings("m", packaged_model_dir("all-MiniLM-L6-v2"), cache_dir=models)  # the copy
    result, output = _probe(tmp_path / "data", "ask", "Who did Zarif meet in Baghdad?")
    assert result["code"] == 0, output
    assert "Sources:" in output and SEEDS.is_dir()
    assert {"onnxruntime", "assistant.core"} <= set(result["loaded"])
    assert not {"torch", "transformers", "sentence_transformers"} & set(result["loaded"])
    assert (result["embedders"], result["rerankers"]) == (1, 1)


def test_the_probe_sees_a_library_imported_by_anything(data: Path) -> None:
    """If `--help` (or any command) pulled in LangChain, the probe would report it."""
    result, output = _probe(data, "--help", env={"PROBE_PRELOAD": "langchain_core"})
    assert result["code"] == 0, output
    assert "langchain_core" in result["loaded"]
