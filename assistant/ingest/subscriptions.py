"""The followed feeds and what was taken from them, kept in the data folder, or with a
Chroma server beside the collection.

Embedded, one JSON file (`feeds.json`), written whole through a partial file and a
rename, so a crash leaves the old state or the new one. With a Chroma server
(`open_subscriptions`), one record per feed and per item key in the server's side
collection `<collection>.feeds` (`retrieval.store.FeedRecords`), so every host sharing
the server follows the same feeds; a save upserts only the records this process changed
and deletes only the feeds it unfollowed, and never brings back a feed another process
unfollowed meanwhile. Either way a lock file (`feeds.lock`, an exclusive
`flock`) is held for a whole follow or refresh pass, so two processes refreshing at
once take turns instead of fetching and storing the same articles twice. The state
holds each subscription (address, schedule, validators, last error, pending items)
and an index of every item seen, by guid, link and canonical URL, so the same article
reached through two feeds maps to one stored article. What to do with it is
`follow.py`'s business. The feeds of a `feeds.json` left from embedded mode are added
to the server's records on the first load against a server (the server's records win) and
the file is renamed `feeds.json.migrated-<unix time>`, so nothing followed is lost and it
happens once. They move as new subscriptions: their articles are in the embedded store,
not the server's collection, so the next pass takes each feed's items again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..base.config import Settings
from ..base.errors import IngestError

STATE_FILE = "feeds.json"
LOCK_FILE = "feeds.lock"
_FORMAT = 1
_FEED, _SEEN = "feed", "seen"  # the kinds of record kept on a Chroma server
MIGRATED_SUFFIX = ".migrated-"  # feeds.json.migrated-<unix time>, once merged into a server

# The lock files this thread holds: flock conflicts between two descriptors of one process
# too, so `load` inside a `locked()` pass (follow.py does that) must not take it again.
_held = threading.local()


class FeedRecords(Protocol):
    """The server's records of the state (`retrieval.store.FeedRecords`)."""

    location: str

    def feeds_read(self) -> list[tuple[str, str, str]]: ...
    def feeds_present(self, kind: str, keys: Sequence[str]) -> set[str]: ...
    def feeds_write(self, kind: str, records: dict[str, str]) -> None: ...
    def feeds_delete(self, kind: str, keys: Sequence[str]) -> None: ...


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
    """The state of one data folder: its file, or the records on a Chroma server
    (`server` opens them on first use; the lock stays in the data folder)."""

    def __init__(self, data_dir: Path, server: Callable[[], FeedRecords] | None = None) -> None:
        self.folder = data_dir
        self.path = data_dir / STATE_FILE
        self._open_server = server
        self._server: FeedRecords | None = None
        self._loaded: dict[tuple[str, str], str] = {}  # the server's records at load
        # What a migration of an embedded feeds.json did (`notice` is one line to print).
        self.migrated: int = 0  # feeds added to the server from the file
        self.notice: str = ""

    def load(self) -> State:
        """The saved state (empty when nothing is followed yet). Against a server, a
        `feeds.json` left in the data folder is merged into it first (once)."""
        if self._open_server is not None:
            if self.path.exists():
                self._migrate()
            return self._load_records()
        return self._read_file() or State()

    def _read_file(self, hint: str = "") -> State | None:
        """`feeds.json` (None when there is none); IngestError, one line, when damaged."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return State(
                feeds=[Subscription.from_dict(d) for d in raw.get("feeds", [])],
                seen={k: Seen(**v) for k, v in raw.get("seen", {}).items()},
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            reason = " ".join(str(exc).split())  # one line, whatever the parser said
            raise IngestError(
                f"{self.path}: cannot read the followed feeds ({reason}){hint}"
            ) from None

    def _migrate(self) -> None:
        """Add `feeds.json`'s feeds to the server's records and rename it, under the feed
        lock so two processes starting at once migrate it once. The server wins: a feed it
        already has (by address or feed address) is left as it is, so newer state there is
        never overwritten or duplicated. A moved feed starts afresh (`_fresh`): its seen
        items and validators describe articles stored in the embedded collection, which
        the server's collection does not hold, so keeping them would skip those items."""
        with self.locked():
            # Read and check the whole file before touching the server: a damaged file
            # changes nothing there and stays where it is for the reader to fix.
            local = self._read_file("; it was not moved to the Chroma server")
            if local is None:  # another process migrated it while this one waited
                return
            server = self._load_records()
            records = self._records()
            taken = {u for s in server.feeds for u in (s.url, s.feed_url)}
            feeds: dict[str, str] = {}
            for sub in local.feeds:
                if sub.url in taken or sub.feed_url in taken:
                    continue
                feeds[sub.url] = _dump(_fresh(sub).to_dict())
                taken.update({sub.url, sub.feed_url})
            # Another host (its own data folder, its own lock) may have written meanwhile.
            for key in records.feeds_present(_FEED, list(feeds)):
                del feeds[key]
            records.feeds_write(_FEED, feeds)
            # Renamed, not deleted: the file stays as it was, and the rename marks it done.
            done = self.path.with_name(f"{STATE_FILE}{MIGRATED_SUFFIX}{int(now())}")
            try:
                os.replace(self.path, done)
            except OSError as exc:
                raise IngestError(f"{self.path}: merged but not renamed ({exc})") from None
            self.migrated = len(feeds)
            kept = len(local.feeds) - len(feeds)
            self.notice = (
                f"moved {len(feeds)} followed feeds from {self.path} to the Chroma server at "
                f"{records.location} (their items are taken again at the next refresh)"
                + (f" ({kept} already there kept as the server has them)" if kept else "")
                + f"; the file is kept as {done.name}"
            )

    def save(self, state: State) -> None:
        """Write the whole state or nothing (a partial file renamed into place); on a
        server, upsert what changed since `load`."""
        if self._open_server is not None:
            self._save_records(state)
            return
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

    def _records(self) -> FeedRecords:
        if self._server is None:
            assert self._open_server is not None
            self._server = self._open_server()
        return self._server

    def _load_records(self) -> State:
        records = self._records()
        self._loaded = {(kind, key): doc for kind, key, doc in records.feeds_read()}
        state = State()
        try:
            for (kind, _), doc in sorted(self._loaded.items()):
                if kind == _FEED:
                    state.feeds.append(Subscription.from_dict(json.loads(doc)))
            state.seen = {
                key: Seen(**json.loads(doc))
                for (kind, key), doc in self._loaded.items()
                if kind == _SEEN
            }
        except (TypeError, ValueError) as exc:
            raise IngestError(
                f"{records.location}: cannot read the followed feeds ({exc})"
            ) from None
        return state

    def _save_records(self, state: State) -> None:
        records = self._records()
        feeds = {s.url: _dump(s.to_dict()) for s in state.feeds}
        seen = {k: _dump(asdict(v)) for k, v in state.seen.items()}
        gone = [k for kind, k in self._loaded if kind == _FEED and k not in feeds]
        records.feeds_delete(_FEED, gone)
        changed = self._changed(_FEED, feeds)
        # A feed another process unfollowed since this one loaded it stays unfollowed.
        present = records.feeds_present(_FEED, list(changed))
        changed = {
            k: d for k, d in changed.items() if k in present or (_FEED, k) not in self._loaded
        }
        records.feeds_write(_FEED, changed)
        records.feeds_write(_SEEN, self._changed(_SEEN, seen))
        self._loaded = {(_FEED, k): d for k, d in feeds.items()}
        self._loaded.update({(_SEEN, k): d for k, d in seen.items()})

    def _changed(self, kind: str, records: dict[str, str]) -> dict[str, str]:
        return {k: d for k, d in records.items() if self._loaded.get((kind, k)) != d}

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the data folder's feed lock (waits for another process's pass to end);
        within a pass this thread already holds, it is held already and not taken again."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = str((self.folder / LOCK_FILE).resolve())
        held: set[str] = _held.__dict__.setdefault("paths", set())
        if lock in held:
            yield
            return
        with open(lock, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            held.add(lock)
            try:
                yield
            finally:
                held.discard(lock)
                fcntl.flock(handle, fcntl.LOCK_UN)


def open_subscriptions(settings: Settings) -> Subscriptions:
    """The state of `settings`: on the Chroma server when one is configured (reached on
    first use, so a command refused before that opens nothing), else `feeds.json`."""
    if settings.chroma_server() is None:
        return Subscriptions(settings.data_dir)

    def connect() -> FeedRecords:
        from ..retrieval.store import FeedRecords as ServerRecords

        return ServerRecords(settings)

    return Subscriptions(settings.data_dir, connect)


def _fresh(sub: Subscription) -> Subscription:
    """A feed moved to another store: its address, schedule and title, due now, with no
    validators (a 304 would hide items the new store lacks) and no stored article ids."""
    return Subscription(sub.url, sub.feed_url, sub.every, sub.title, pending=sub.pending)


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def now() -> float:
    return time.time()
