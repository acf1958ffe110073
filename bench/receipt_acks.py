"""Benchmark clients that ack receipts the way the page does, and the latency histogram they feed.

ReceiptAcker mirrors assets/stream.js: a lone frame is acked after 50 ms, then at most one POST a
second per stream, at most 50 ids per POST, to the receipts door (POST /receipts/ with the user's
receipt token, notifications/receipts_door.py) over a small pool of keep-alive connections.
With api_tokens it acks through POST /api/notifications/receipts/ (the API's door) instead.
AckProcess runs one in a process of its own, fed through a pipe, so that sending acks does not
slow the clients that read the streams (and time their frames), as a page's acks never slow
another page's reading.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx

QUICK_S, DELAY_S, BATCH = 0.05, 1.0, 50
API_RECEIPTS_PATH = "/api/notifications/receipts/"
LATENCY_METRIC = "notification_commit_to_delivered_seconds"


class ReceiptAcker:
    """Acks `delivered` receipts per stream; call from the event loop that reads the streams."""

    def __init__(self, base_url: str, *, api_tokens: dict[int, str] | None = None, max_connections: int = 4):
        from notifications.receipts_door import RECEIPTS_PATH

        self.api_tokens = api_tokens  # user id -> DRF token: ack through the API's door
        self.url = base_url.rstrip("/") + (API_RECEIPTS_PATH if api_tokens is not None else RECEIPTS_PATH)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.client = httpx.AsyncClient(timeout=60, limits=limits)
        self.statuses: Counter = Counter()
        self._pending: dict[int, list[int]] = {}
        self._headers: dict[int, dict] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._sent_at: dict[int, float] = {}
        self._posts: set[asyncio.Task] = set()
        # A few connections, each kept busy: httpx's pool with hundreds of waiting requests spends
        # its time on the waiting (1,000 acks took 9 s over 50 connections, 1.2 s over one).
        self._in_flight = asyncio.Semaphore(max_connections)

    def delivered(self, uid: int, notification_id: int) -> None:
        if uid not in self._headers:
            self._headers[uid] = self._auth(uid)
        pending = self._pending.setdefault(uid, [])
        if notification_id in pending:
            return
        pending.append(notification_id)
        if len(pending) >= BATCH:
            self._send(uid)
        elif uid not in self._timers:
            wait = max(QUICK_S, self._sent_at.get(uid, float("-inf")) + DELAY_S - time.monotonic())
            self._timers[uid] = asyncio.get_running_loop().call_later(wait, self._send, uid)

    def _send(self, uid: int) -> None:
        timer = self._timers.pop(uid, None)
        if timer is not None:
            timer.cancel()
        pending = self._pending.get(uid, [])
        ids, pending[:] = pending[:BATCH], pending[BATCH:]
        if not ids:
            return
        self._sent_at[uid] = time.monotonic()
        task = asyncio.get_running_loop().create_task(self._post(self._headers[uid], ids))
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)
        if pending:
            self._timers[uid] = asyncio.get_running_loop().call_later(DELAY_S, self._send, uid)

    def _auth(self, uid: int) -> dict:
        from notifications.receipts_door import receipt_token_for

        if self.api_tokens is not None:
            return {"Authorization": f"Token {self.api_tokens[uid]}"}
        return {"X-Receipt-Token": receipt_token_for(uid)}

    async def _post(self, headers: dict, ids: list[int]) -> None:
        try:
            async with self._in_flight:
                response = await self.client.post(self.url, json={"delivered": ids}, headers=headers)
            self.statuses[f"HTTP {response.status_code}"] += 1
        except httpx.HTTPError as exc:
            self.statuses[type(exc).__name__] += 1

    async def close(self, timeout: float = 30) -> None:
        """Send what is queued (as a page does on leaving), wait for the answers, close."""
        for uid in list(self._pending):
            self._send(uid)
        if self._posts:
            await asyncio.wait(set(self._posts), timeout=timeout)
        await self.client.aclose()


class AckProcess:
    """A ReceiptAcker in a child process: delivered(uid, id) from the stream reader costs one pipe write."""

    def __init__(self, base_url: str, *, api_tokens: dict[int, str] | None = None):
        import multiprocessing

        self._conn, child = multiprocessing.get_context("fork").Pipe()
        self._proc = multiprocessing.get_context("fork").Process(
            target=_ack_process, args=(child, base_url, api_tokens), daemon=True
        )
        self._proc.start()

    def delivered(self, uid: int, notification_id: int) -> None:
        self._conn.send((uid, notification_id))

    def close(self, timeout: float = 60) -> dict[str, int]:
        """Flush the queued acks, wait for their answers; returns the answers counted by status."""
        self._conn.send(None)
        statuses = self._conn.recv() if self._conn.poll(timeout) else {"ack process did not answer": 1}
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()
        return statuses


def _ack_process(conn, base_url: str, api_tokens) -> None:
    async def main():
        loop = asyncio.get_running_loop()
        acker = ReceiptAcker(base_url, api_tokens=api_tokens)
        done = asyncio.Event()

        def readable():
            while conn.poll():
                message = conn.recv()
                if message is None:
                    loop.remove_reader(conn.fileno())
                    done.set()
                    return
                acker.delivered(*message)

        loop.add_reader(conn.fileno(), readable)
        await done.wait()
        await acker.close()
        conn.send(dict(acker.statuses))

    asyncio.run(main())


# --- the server's histogram ----------------------------------------------------------------------


def latency_buckets(base_url: str) -> dict[float, float]:
    """The web process's commit-to-delivered histogram: cumulative count per upper bound (le)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(base_url.rstrip("/") + "/metrics", timeout=30).raise_for_status().text
    buckets = {}
    for family in text_string_to_metric_families(text):
        if family.name == LATENCY_METRIC:
            for sample in family.samples:
                if sample.name == LATENCY_METRIC + "_bucket":
                    buckets[float(sample.labels["le"])] = sample.value
    return buckets


def histogram_quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """Prometheus's histogram_quantile over the observations made between two scrapes."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return float("nan")
    rank = q * counts[-1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(bounds, counts):
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / max(count - lower_count, 1e-12)
        lower_bound, lower_count = bound, count
    return lower_bound
