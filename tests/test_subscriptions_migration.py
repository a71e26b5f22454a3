"""A `feeds.json` from embedded mode moves to a real `chroma run` server on the first load
against it: merged (the server's records win), renamed `feeds.json.migrated-<time>`, once;
a damaged file is refused in one line and changes nothing on the server."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from conftest import make_settings

from assistant.base.errors import IngestError
from assistant.ingest.subscriptions import (
    Seen,
    State,
    Subscription,
    Subscriptions,
    open_subscriptions,
)
from assistant.retrieval.store import FeedRecords

TRAM = "https://gazette.example/feed.xml"
FERRY = "https://harbour.example/rss"


def _server(data: Path, url: str, collection: str) -> Subscriptions:
    return open_subscriptions(make_settings(data, chroma_url=url, collection=collection))


def _embedded_file(data: Path, state: State) -> str:
    """Write `state` as embedded mode does; the file's text."""
    Subscriptions(data).save(state)
    return (data / "feeds.json").read_text(encoding="utf-8")


def _records(data: Path, url: str, collection: str) -> list[tuple[str, str, str]]:
    settings = make_settings(data, chroma_url=url, collection=collection)
    return sorted(FeedRecords(settings).feeds_read())


def _load_in_a_pass(subs: Subscriptions) -> State:
    """`load` inside `locked()`, as follow.py does, in a thread so a deadlock fails the
    test instead of hanging it."""
    got: list[State] = []

    def run() -> None:
        with subs.locked():
            got.append(subs.load())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "load under the pass's own lock deadlocked"
    (state,) = got
    return state


def test_an_embedded_feeds_json_moves_to_the_server_once(
    tmp_path: Path, chroma_server: str
) -> None:
    data = tmp_path / "data"
    feeds = [
        Subscription(
            TRAM, TRAM, 1800, title="Gazette", last_fetch=100.0, etag='"f1"', articles=["a1"]
        ),
        Subscription(FERRY, FERRY, 3600, title="Harbour", last_fetch=200.0, articles=["a2"]),
    ]
    seen = {
        "guid-tram": Seen("a1", "fp1", etag='"e1"'),
        "https://harbour.example/ferry": Seen("a2", "fp2", last_modified="Tue"),
    }
    text = _embedded_file(data, State(feeds=feeds, seen=seen))

    subs = _server(data, chroma_server, "migrate-once")
    state = _load_in_a_pass(subs)
    assert sorted(s.to_dict()["url"] for s in state.feeds) == sorted([TRAM, FERRY])
    # Each feed moves with its address, schedule and title, due at once, and nothing of
    # what it took into the embedded store: the server's collection lacks those articles,
    # so a kept seen index or ETag would make the next refresh skip them.
    moved_feeds = {s.url: (s.feed_url, s.every, s.title) for s in state.feeds}
    assert moved_feeds == {s.url: (s.feed_url, s.every, s.title) for s in feeds}
    assert all((s.last_fetch, s.etag, s.articles) == (0.0, "", []) for s in state.feeds)
    assert state.seen == {}
    assert not (data / "feeds.json").exists()
    (moved,) = data.glob("feeds.json.migrated-*")
    assert moved.name.removeprefix("feeds.json.migrated-").isdigit()
    assert moved.read_text(encoding="utf-8") == text, "the file is kept as it was"
    assert subs.migrated == 2
    assert str(data / "feeds.json") in subs.notice and moved.name in subs.notice
    assert "\n" not in subs.notice and "moved 2 followed feeds" in subs.notice

    again = _server(data, chroma_server, "migrate-once")
    later = again.load()
    assert (again.migrated, again.notice) == (0, "")
    assert [s.to_dict() for s in later.feeds] == [s.to_dict() for s in state.feeds]
    assert later.seen == {}
    assert [p.name for p in data.glob("feeds.json*")] == [moved.name]
    kinds = [kind for kind, _, _ in _records(data, chroma_server, "migrate-once")]
    assert sorted(kinds) == ["feed", "feed"], "nothing stored twice"


def test_a_feed_on_both_sides_keeps_the_servers_version(tmp_path: Path, chroma_server: str) -> None:
    collection = "migrate-both"
    host = _server(tmp_path / "host", chroma_server, collection)
    on_server = Subscription(TRAM, TRAM, 7200, title="Gazette (server)", last_fetch=900.0)
    server_seen = Seen("server-article", "fp-server")
    host.save(State(feeds=[on_server], seen={"guid-tram": server_seen}))

    data = tmp_path / "data"
    local = [
        Subscription(TRAM, TRAM, 60, title="Gazette (old)", last_fetch=10.0),
        # The same feed followed through its site's page: still the server's feed.
        Subscription("https://gazette.example/", TRAM, 60, title="Gazette page"),
        Subscription(FERRY, FERRY, 3600, title="Harbour"),
    ]
    local_seen = {"guid-tram": Seen("old-article", "fp-old"), "guid-ferry": Seen("a2", "fp2")}
    _embedded_file(data, State(feeds=local, seen=local_seen))

    subs = _server(data, chroma_server, collection)
    state = subs.load()
    assert sorted(s.url for s in state.feeds) == [TRAM, FERRY], "no duplicate of the tram feed"
    assert state.find(TRAM) is not None
    assert state.find(TRAM).to_dict() == on_server.to_dict()  # type: ignore[union-attr]
    assert state.find(FERRY).to_dict() == local[2].to_dict()  # type: ignore[union-attr]
    assert state.seen == {"guid-tram": server_seen}  # the server's index, untouched
    assert subs.migrated == 1 and "(2 already there kept as the server has them)" in subs.notice
    assert not (data / "feeds.json").exists() and len(list(data.glob("feeds.json.migrated-*")))


def test_a_damaged_feeds_json_is_one_line_and_moves_nothing(
    tmp_path: Path, chroma_server: str
) -> None:
    collection = "migrate-damaged"
    host = _server(tmp_path / "host", chroma_server, collection)
    host.save(State(feeds=[Subscription(TRAM, TRAM, 7200)], seen={"g": Seen("a", "f")}))
    before = _records(tmp_path, chroma_server, collection)

    data = tmp_path / "data"
    data.mkdir()
    damaged = data / "feeds.json"
    damaged.write_text('{"format": 1, "feeds": [', encoding="utf-8")
    subs = _server(data, chroma_server, collection)
    for _ in range(2):  # refused every time, not once and then forgotten
        with pytest.raises(IngestError) as caught:
            subs.load()
        message = str(caught.value)
        assert message.startswith(f"{damaged}: cannot read the followed feeds (")
        assert "not moved to the Chroma server" in message and "\n" not in message
    assert damaged.read_text(encoding="utf-8") == '{"format": 1, "feeds": ['
    assert [p.name for p in data.iterdir() if p.name.startswith("feeds.json")] == ["feeds.json"]
    assert _records(tmp_path, chroma_server, collection) == before
    assert (subs.migrated, subs.notice) == (0, "")
    assert json.loads(before[0][2])["every"] == 7200 and len(before) == 2


def test_the_feeds_command_says_the_file_moved(
    tmp_path: Path,
    chroma_server: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`assistant feeds` over a server lists the moved feed and says on stderr, once, that
    the file moved (stdout stays the listing)."""
    from assistant.cli import main

    data = tmp_path / "data"
    _embedded_file(data, State(feeds=[Subscription(TRAM, TRAM, 1800, title="Gazette")]))
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(data))
    monkeypatch.setenv("ASSISTANT_CHROMA_URL", chroma_server)
    monkeypatch.setenv("ASSISTANT_COLLECTION", "migrate-cli")
    assert main(["feeds", "--json"]) == 0
    out, err = capsys.readouterr()
    assert [row["url"] for row in json.loads(out)] == [TRAM]
    assert err.startswith("note: moved 1 followed feeds") and err.count("\n") == 1
    assert main(["feeds", "--json"]) == 0
    out, err = capsys.readouterr()
    assert [row["url"] for row in json.loads(out)] == [TRAM] and err == ""
