"""Bids placed by several processes on one open-loop schedule (bench_inbox's bids during the purge).

One process places one bid at a time, so it tops out near 1 / (a bid's wall time: its
Python CPU plus the round trips and commits it waits on; 65-85/s on the 2-core bench
machine). So the bids come from `processes` forked workers, each with its own database
connection and its own slice of the cleaners (a cleaner bids once on a job). They share one
schedule: bid k is due at start + k / rate and each worker takes the next k, so a slow bid
delays no other bid while a worker is free. Each bid's latency is timed from its start, and
its lateness (start - due) is kept too: when every worker is busy the bids start late, and
the report shows it.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.management.base import CommandError
from django.db import connections

from bench.measure import cpu_seconds
from jobs import services as job_services
from jobs.models import CleaningJob
from notifications.models import Notification

# The workers start a moment after the go, so no bid is late for the fork's sake.
LEAD_SECONDS = 0.2


@dataclass
class Phase:
    """One run of the schedule: per bid, (latency ms, lateness ms); per worker, the bids it placed."""

    latencies: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    per_process: list[int] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the workers' user + system CPU in the phase
    out_of_bidders: bool = False

    @property
    def rate(self) -> float:
        return len(self.latencies) / max(self.seconds, 1e-9)


class Bidders:
    """`processes` workers placing bids with the real service, by the cleaners `cleaner_ids`: on the
    first of `job_ids`, then, once each worker's cleaners have all bid on it, on the next."""

    def __init__(self, job_ids: list[int], cleaner_ids: list[int], *, processes: int):
        ctx = multiprocessing.get_context("fork")
        self._next = ctx.Value("q", 0)  # the next k of the schedule, shared by the workers
        self._stop = ctx.Event()
        self._pipes, self._procs = [], []
        # Forked children must not share the parent's database sockets: the pool's idle ones neither.
        connections.close_all()
        for conn in connections.all():
            if conn.vendor == "postgresql":
                conn.close_pool()
        for i in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, self._next, self._stop, job_ids, cleaner_ids[i::processes]), daemon=True)
            proc.start()
            self._pipes.append(parent)
            self._procs.append(proc)
        for pipe in self._pipes:
            if not pipe.poll(60) or pipe.recv() != "ready":
                raise CommandError("a bidder process did not start")

    def run(self, rate: float, *, seconds: float | None = None, until=None) -> Phase:
        """Bids at `rate`/s: the ceil(rate * seconds) bids due in `seconds`, or as many as are due
        until `until()` is true (checked every 50 ms), or until the cleaners run out."""
        count = math.ceil(rate * seconds) if seconds is not None else None
        cpu_before = self._cpu()
        self._next.value = 0
        self._stop.clear()
        start = time.monotonic() + LEAD_SECONDS
        for pipe in self._pipes:
            pipe.send((start, rate, count))
        while not all(pipe.poll() for pipe in self._pipes):
            if until is not None and until():
                break
            time.sleep(0.05)
        self._stop.set()
        phase = Phase()
        for pipe in self._pipes:
            latencies, lateness, out = pipe.recv()
            phase.latencies += latencies
            phase.lateness += lateness
            phase.per_process.append(len(latencies))
            phase.out_of_bidders |= out
        phase.seconds = time.monotonic() - start
        phase.cpu_seconds = self._cpu() - cpu_before
        return phase

    def _cpu(self) -> float:
        return sum(cpu_seconds(proc.pid) for proc in self._procs)

    def close(self) -> None:
        for pipe in self._pipes:
            pipe.send(None)
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()


def _worker(conn, next_k, stop, job_ids: list[int], cleaner_ids: list[int]) -> None:
    User = Notification._meta.get_field("recipient").related_model
    jobs = list(CleaningJob.objects.filter(pk__in=job_ids).order_by("pk"))
    cleaners = list(User.objects.filter(pk__in=cleaner_ids).order_by("pk"))
    pairs = ((job, cleaner) for job in jobs for cleaner in cleaners)  # a cleaner bids once per job
    pair = next(pairs, None)
    if pair is not None:
        # One bid untimed: a new connection's first bid is slow (0.2-0.4 s here: its statements, caches).
        job_services.bid_place(job=pair[0], cleaner=pair[1], amount=Decimal("90"))
        pair = next(pairs, None)
    conn.send("ready")
    while (go := conn.recv()) is not None:
        start, rate, count = go
        latencies, lateness = [], []
        while pair is not None and not stop.is_set():
            with next_k.get_lock():
                k = next_k.value
                next_k.value += 1
            if count is not None and k >= count:
                break
            due = start + k / rate
            if stop.wait(max(0.0, due - time.monotonic())):
                break
            t0 = time.perf_counter()
            lateness.append(max(0.0, time.monotonic() - due) * 1000)
            job_services.bid_place(job=pair[0], cleaner=pair[1], amount=Decimal("90"))
            latencies.append((time.perf_counter() - t0) * 1000)
            pair = next(pairs, None)
        conn.send((latencies, lateness, pair is None))
