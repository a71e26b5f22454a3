"""Start the real web app on 127.0.0.1 for tests: temp data dir, seeded, free port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import make_settings
from servers import free_port

from assistant.core import Assistant


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
    from assistant.web.app import build_app, launch

    settings = assistant.settings
    app = build_app(assistant, settings)
    url = launch(app, settings, host="127.0.0.1", port=free_port(), block=False)
    try:
        yield Running(url.rstrip("/") + "/", app, assistant)
    finally:
        app.close()
