"""What works from a checkout works from an installed wheel (pip install ., pipx).

Builds the wheel from this checkout, installs it with no dependencies into a fresh
virtual environment whose only other import path is the test venv's site-packages
(for torch, chromadb and the rest: installing them again would take minutes and a
network), and answers a seed question from a folder outside the checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, SEEDS

pytestmark = pytest.mark.slow


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        args, capture_output=True, text=True, env=env, cwd=cwd, timeout=600, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_an_installed_wheel_answers_with_citations(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", str(wheels), str(REPO),
    )  # fmt: skip
    wheel = next(wheels.glob("news_assistant-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for prompt in ("answer_system", "answer_user", "condense"):
        assert f"assistant/prompt_files/{prompt}.md" in names
    assert "assistant/templates/eval_report.html" in names

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", str(venv))
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run(str(python), "-c", purelib).strip())
    # The dependencies come from the test venv's site-packages (a plain path entry: its
    # editable-install hook for this checkout is not run, so `assistant` is the wheel's).
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    _run(str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel))

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ASSISTANT_") and k not in {"PYTHONPATH", "OPENAI_API_KEY"}
    }
    env["ASSISTANT_DATA_DIR"] = str(tmp_path / "data")
    where = _run(str(python), "-c", "import assistant; print(assistant.__file__)", cwd=outside)
    assert where.strip().startswith(str(site)), "the wheel's package must be the one imported"
    exe = str(venv / "bin" / "assistant")
    _run(exe, "ingest", str(SEEDS), env=env, cwd=outside)
    out = _run(exe, "ask", "Who did Zarif meet in Baghdad?", "--json", env=env, cwd=outside)
    answer = json.loads(out)
    assert not answer["refused"] and answer["citations"], answer["answer"]
