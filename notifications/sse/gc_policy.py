"""Keep the objects of long-lived streams out of the garbage collector's full passes.

Each open stream keeps about 90 objects that CPython's cyclic collector tracks. At
10,000 streams a full (oldest-generation) pass walks about a million objects and
stops the event loop for 0.2-0.8 s, and every stream waits that long for its next
event. Once a burst of new streams has settled, their objects are moved to the
permanent generation (`gc.freeze()`), which full passes skip.

Frozen objects that become cyclic garbage (left by streams that closed since) are
only collected after `gc.unfreeze()`; that is done once as many streams have
closed as half of those open at the freeze, which bounds what can wait there.
"""

from __future__ import annotations

import asyncio
import gc


class StreamGarbagePolicy:
    """Counts streams on the event loop's thread and freezes or unfreezes the collector."""

    def __init__(self, *, enabled: bool = True, settle_seconds: float = 2.0, burst: int = 500):
        self.enabled = enabled
        self.settle_seconds = settle_seconds  # lets an opening's short-lived objects go first
        self.burst = burst
        self.open_streams = 0
        self.opened_since_freeze = 0
        self.closed_while_frozen = 0
        self.frozen_with = 0  # most streams open at a freeze since the last unfreeze; 0: none frozen
        self._pending: asyncio.TimerHandle | None = None

    def stream_opened(self) -> None:
        self.open_streams += 1
        self.opened_since_freeze += 1
        if self.enabled and self.opened_since_freeze >= self.burst and self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self.settle_seconds, self.freeze)

    def stream_closed(self) -> None:
        self.open_streams -= 1
        if self.frozen_with:
            self.closed_while_frozen += 1
            if self.closed_while_frozen * 2 >= self.frozen_with:
                self.unfreeze()

    def freeze(self) -> None:
        self._pending = None
        self.opened_since_freeze = 0
        if self.open_streams:
            gc.freeze()
            self.frozen_with = max(self.frozen_with, self.open_streams)

    def unfreeze(self) -> None:
        gc.unfreeze()
        self.frozen_with = self.closed_while_frozen = 0
