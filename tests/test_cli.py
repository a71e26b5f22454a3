"""The command line answers fast when it need not answer: `sources`, `remove`, `--help`
and a refused argument never load the embedding model (asserted on what was imported,
not on time; `benchmarks/ask.py` measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import SEEDS

HEAVY = ("torch", "transformers", "sentence_transformers", "onnxruntime")

# Runs the CLI in a fresh interpreter, then reports which heavy modules it imported.
_PROBE = """
import json, sys
from assistant.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("PROBE " + json.dumps({{"code": code, "heavy": heavy}}))
"""


def _probe(data: Path, *args: str) -> tuple[dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"ASSISTANT_DATA_DIR": str(data), "PATH": "/usr/bin:/bin", "HOME": str(data)},
        cwd=data,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBE "))
    return json.loads(line[6:]), done.stdout + done.stderr


@pytest.fixture(scope="module")
def data(seeded_dir: Path) -> Path:
    return seeded_dir


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("sources",), 0, "5 articles"),
        (("remove", "no-such-article"), 1, "no stored article with id 'no-such-article'"),
        (("--help",), 0, "Cited answers"),
        (("ask", "Who?", "--since", "last tuesday"), 1, "--since 'last tuesday' is not a date"),
        (("ask", "Who?", "--llm", "gpt4"), 1, "choose one of extractive"),
        (("ask", "Who?", "--since", "2025-01-01", "--until", "2024-01-01"), 1, "is after"),
    ],
)
def test_commands_that_do_not_answer_never_load_a_model(
    data: Path, args: tuple[str, ...], code: int, says: str
) -> None:
    result, output = _probe(data, *args)
    assert result["code"] == code, output
    assert says in output
    assert result["heavy"] == [], f"{' '.join(args)} imported {result['heavy']}"


def test_asking_does_load_the_model(data: Path) -> None:
    """The probe above can tell: a real question imports the embedding runtime."""
    result, output = _probe(data, "ask", "Who did Zarif meet in Baghdad?")
    assert result["code"] == 0, output
    assert "torch" in result["heavy"]
    assert "Sources:" in output and SEEDS.is_dir()
