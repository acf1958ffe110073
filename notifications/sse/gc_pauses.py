"""How long the garbage collector stops this process: `python_gc_pause_seconds{generation}`.

An open stream's next frame waits for any collection in progress, so a collector pause
is the streams' latency tail (a full pass over 10,000 streams' objects took 0.2-0.8 s
before gc_policy's freeze). The web process records every pause; /metrics shows them,
and bench_streams reads them around its measured window.

The older generations' pauses (1 and 2) are also counted in CPU seconds
(`python_gc_pause_cpu_seconds_total`): a pause much longer than its CPU time is the machine
not running the process, not the collector's work. Young passes are not: they come by the
thousand per second while streams open, and reading a thread's CPU clock costs 2 us here.

gc.callbacks run inside whatever allocation set the collection off, possibly while
prometheus_client holds its own lock, so the callback only appends to a deque; the
event loop moves the pauses into the histogram (`flush`) once a second.
"""
from __future__ import annotations

import asyncio
import gc
import time
from collections import deque

from notifications import metrics


class GcPauseProbe:
    def __init__(self, *, backlog: int = 100_000):
        self._started: tuple[float, float | None] | None = None  # (wall, this thread's CPU for generations 1-2)
        self._pending: deque[tuple[int, float, float | None]] = deque(maxlen=backlog)  # (generation, seconds, CPU seconds)

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        # One collection at a time per process (the GIL and the collector's own flag), so a start pairs with its stop.
        if phase == "start":
            self._started = (time.perf_counter(), time.thread_time() if info["generation"] else None)
        elif self._started is not None:
            wall, cpu = self._started
            self._pending.append((info["generation"], time.perf_counter() - wall, None if cpu is None else time.thread_time() - cpu))
            self._started = None

    def flush(self) -> int:
        """Move the recorded pauses into the histogram; returns how many."""
        moved = 0
        while self._pending:
            generation, seconds, cpu_seconds = self._pending.popleft()
            metrics.gc_paused(generation=generation, seconds=seconds, cpu_seconds=cpu_seconds)
            moved += 1
        return moved

    async def run(self, interval: float = 1.0) -> None:
        self.install()
        try:
            while True:
                await asyncio.sleep(interval)
                self.flush()
        finally:
            self.uninstall()
            self.flush()


probe = GcPauseProbe()
