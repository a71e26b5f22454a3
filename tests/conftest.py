"""Shared fixtures: isolated settings, a seeded store, a real Chroma server.

Everything here is real: the packaged embedding model, embedded Chroma in a
temporary folder, and `chroma run` for the client/server mode. The model loads
once per test process (models.make_embedder caches it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import free_port

from assistant.base.config import Settings
from assistant.core import Assistant

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
VENV_BIN = Path(sys.executable).parent

# Tests never use a developer's key, server or .env.
for _name in list(os.environ):
    if _name.startswith("ASSISTANT_") or _name in {"OPENAI_API_KEY", "OPENAI_BASE_URL"}:
        del os.environ[_name]


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a throw-away collection over the repository's seeds: extractive unless
    told otherwise, and no .env file read."""
    values: dict[str, Any] = {"data_dir": data_dir, "seeds_dir": SEEDS, "llm": "extractive"}
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the five seed articles ingested (copy it before writing)."""
    data = tmp_path_factory.mktemp("seeded")
    Assistant(make_settings(data), chat_model=None).ingest([str(SEEDS)])
    return data


@pytest.fixture(scope="session")
def assistant(seeded_dir: Path) -> Assistant:
    """An extractive assistant over the seeds (read-only use)."""
    return Assistant(make_settings(seeded_dir), chat_model=None)


@pytest.fixture
def fresh(tmp_path: Path) -> Assistant:
    """An extractive assistant over an empty store of its own."""
    return Assistant(make_settings(tmp_path / "data"), chat_model=None)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server on 127.0.0.1; yields its URL."""
    chroma = shutil.which("chroma", path=str(VENV_BIN)) or shutil.which("chroma")
    assert chroma, "the chroma CLI (from the chromadb wheel) is missing"
    path = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = open(path / "server.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_port(port, proc, timeout=60)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chroma server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("chroma server did not start in time")


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the installed `assistant` entry point."""
    exe = shutil.which("assistant", path=str(VENV_BIN))
    command = [exe] if exe else [sys.executable, "-m", "assistant"]
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout
    )
