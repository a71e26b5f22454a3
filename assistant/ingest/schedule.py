"""Refreshing followed feeds in the background while the web page is served.

A `Refresher` is one daemon thread that wakes every `tick` seconds and runs a pass
over the feeds that are due (each on its own `--every`), through a `Follower`, so
the feed lock keeps it from racing a `assistant refresh` run by cron. `stop()` ends
it cleanly (the pass under way finishes first). Failures are reported through `say`
and never end the thread. When the collection was last refreshed is
`last_refresh()`; showing it is the web page's business.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..base.errors import AssistantError
from .follow import Follower


class Refresher:
    """A background thread running due refresh passes."""

    def __init__(
        self, follower: Follower, *, tick: float = 30.0, say: Callable[[str], None] = print
    ) -> None:
        self.follower = follower
        self.tick = tick
        self.say = say
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feed-refresh", daemon=True)

    def start(self) -> Refresher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def last_refresh(self) -> float:
        """Epoch seconds of the last pass over any feed (0 when none ran)."""
        return self.follower.subscriptions.load().last_refresh()

    def run_once(self) -> None:
        """One pass over the due feeds, its outcome said in one line a feed."""
        try:
            results = self.follower.refresh(due_only=True)
        except AssistantError as exc:
            self.say(f"feed refresh failed: {exc}")
            return
        for r in results:
            if r.new or r.updated or r.failed:
                counts = f"{r.new} new, {r.updated} updated, {len(r.failed)} failed"
                self.say(f"refreshed {r.url}: {counts}")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.tick)
