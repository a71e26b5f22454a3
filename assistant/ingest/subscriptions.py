"""The followed feeds and what was taken from them, kept in the data folder.

One JSON file (`feeds.json`), written whole through a partial file and a rename, so a
crash leaves the old state or the new one; a lock file (`feeds.lock`, an exclusive
`flock`) is held for a whole follow or refresh pass, so two processes refreshing at
once take turns instead of fetching and storing the same articles twice. The state
holds each subscription (address, schedule, validators, last error, pending items)
and an index of every item seen, by guid, link and canonical URL, so the same article
reached through two feeds maps to one stored article. What to do with it is
`follow.py`'s business.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..base.errors import IngestError

STATE_FILE = "feeds.json"
LOCK_FILE = "feeds.lock"
_FORMAT = 1


@dataclass
class Subscription:
    """One followed feed."""

    url: str  # as the reader gave it (a feed, or a page announcing one)
    feed_url: str  # the feed itself
    every: int  # seconds between refreshes
    title: str = ""
    last_fetch: float = 0.0  # epoch seconds of the last attempt; 0 = never
    next_fetch: float = 0.0
    etag: str = ""
    last_modified: str = ""
    last_error: str = ""
    articles: list[str] = field(default_factory=list)  # stored article ids it brought
    pending: list[dict[str, str]] = field(default_factory=list)  # failed items, retried

    def matches(self, url: str) -> bool:
        return url in {self.url, self.feed_url}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Subscription:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Seen:
    """An item taken before: the stored article and the fingerprint it had then."""

    article: str
    fingerprint: str
    etag: str = ""
    last_modified: str = ""


@dataclass
class State:
    """Everything in `feeds.json`."""

    feeds: list[Subscription] = field(default_factory=list)
    seen: dict[str, Seen] = field(default_factory=dict)  # guid / link / canonical -> item

    def find(self, url: str) -> Subscription | None:
        return next((s for s in self.feeds if s.matches(url)), None)

    def last_refresh(self) -> float:
        return max((s.last_fetch for s in self.feeds), default=0.0)


class Subscriptions:
    """The state file of one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir
        self.path = data_dir / STATE_FILE

    def load(self) -> State:
        """The saved state (empty when nothing is followed yet)."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return State()
        except (OSError, ValueError) as exc:
            raise IngestError(f"{self.path}: cannot read the followed feeds ({exc})") from None
        return State(
            feeds=[Subscription.from_dict(d) for d in raw.get("feeds", [])],
            seen={k: Seen(**v) for k, v in raw.get("seen", {}).items()},
        )

    def save(self, state: State) -> None:
        """Write the whole state or nothing (a partial file renamed into place)."""
        doc = {
            "format": _FORMAT,
            "feeds": [s.to_dict() for s in state.feeds],
            "seen": {k: asdict(v) for k, v in state.seen.items()},
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{STATE_FILE}.{os.getpid()}.partial")
        try:
            partial.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(partial, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise IngestError(f"{self.path}: cannot save the followed feeds ({exc})") from None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the data folder's feed lock (waits for another process's pass to end)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / LOCK_FILE, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def now() -> float:
    return time.time()
