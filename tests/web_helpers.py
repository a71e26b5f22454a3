"""Start the real web app on 127.0.0.1 for tests: temp data dir, seeded, free port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.answer import Assistant
from assistant.config import Settings

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a throw-away collection over the repository's seeds (no .env read)."""
    values: dict[str, Any] = {"data_dir": data_dir, "seeds_dir": SEEDS, "llm": "extractive"}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def seeded_assistant(data_dir: Path, **overrides: Any) -> Assistant:
    assistant = Assistant(make_settings(data_dir, **overrides))
    assistant.ensure_seeded()
    return assistant


@dataclass
class Running:
    url: str
    app: Any
    assistant: Assistant


@contextmanager
def running_app(assistant: Assistant) -> Iterator[Running]:
    """The page served in a background thread on a free local port; closed afterwards."""
    from assistant.web import build_app, launch

    settings = assistant.settings
    app = build_app(assistant, settings)
    url = launch(app, settings, host="127.0.0.1", port=free_port(), block=False)
    try:
        yield Running(url.rstrip("/") + "/", app, assistant)
    finally:
        app.close()
