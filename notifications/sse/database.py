"""The streams' database work: a few threads that keep their connections between streams.

Opening a stream reads the credential, then the replay and the unread count. On threads of
their own each read opened a PostgreSQL connection and closed it (two per stream: 10,000
streams took a minute to open). Here STREAM_DB_THREADS threads each keep one connection, so
opening a stream costs its queries only, and the process never holds more connections for
streams than that, however many are open. An open stream still holds none.
"""

from __future__ import annotations

import asyncio
import queue
import threading

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

# Most items one batched statement serves (run_batched): bounds its parameters and its answer.
BATCH_MAX = 500


class DatabaseThreads:
    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._open_batches: dict = {}  # function -> its batch not yet taken by a thread

    async def run(self, function, /, *args, **kwargs):
        """function(*args, **kwargs) on one of the threads (a read: it may run twice, see _call)."""
        self._start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((function, args, kwargs, future, loop))
        return await future

    async def run_batched(self, function, item):
        """function([item, ...])'s answer for `item`, batched with the same function's items waiting meanwhile.

        `function` takes a list and returns one answer per item, in order. An item that finds no
        batch of its function waiting starts one, queued as one job; items arriving before a
        thread takes that job join it (up to BATCH_MAX). Alone, an item is a batch of one, with
        no added wait; in a burst (a restart's reconnects) one statement serves many streams.
        """
        self._start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            batch = self._open_batches.get(function)
            if batch is None or len(batch) >= BATCH_MAX:
                batch = self._open_batches[function] = []
                self._jobs.put((_run_batch, (function, batch, self), {}, None, None))
            batch.append((item, future, loop))
        return await future

    def _take_batch(self, function, batch: list) -> list:
        with self._lock:
            if self._open_batches.get(function) is batch:
                del self._open_batches[function]
            return list(batch)

    def _start(self) -> None:
        if self._threads:
            return
        with self._lock:
            if not self._threads:
                for i in range(settings.STREAM_DB_THREADS):
                    thread = threading.Thread(target=self._work, name=f"stream-db-{i}", daemon=True)
                    thread.start()
                    self._threads.append(thread)

    def _work(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                function, args, kwargs, future, loop = job
                if future is None:  # a batch settles its own futures
                    function(*args, **kwargs)
                    continue
                try:
                    outcome = (_settle, future, _call(function, args, kwargs), None)
                except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                    outcome = (_settle, future, None, exc)
                if not loop.is_closed():
                    loop.call_soon_threadsafe(*outcome)
        finally:
            connection.close()

    def close(self) -> None:
        """Stop the threads and close their connections (shutdown; tests)."""
        with self._lock:
            threads, self._threads = self._threads, []
            for _ in threads:
                self._jobs.put(None)
            for thread in threads:
                thread.join(timeout=10)


def _call(function, args, kwargs):
    try:
        return function(*args, **kwargs)
    except (OperationalError, InterfaceError):
        # The kept connection may have died (a database restart): once more, on a new one.
        connection.close()
        return function(*args, **kwargs)


def _run_batch(function, batch: list, threads: DatabaseThreads) -> None:
    items = threads._take_batch(function, batch)
    try:
        answers, exc = _call(function, ([item for item, _, _ in items],), {}), None
        if len(answers) != len(items):
            raise RuntimeError(f"{function.__qualname__} answered {len(answers)} of {len(items)} items")
    except BaseException as error:  # noqa: BLE001 - handed to every awaiting coroutine
        answers, exc = [None] * len(items), error
    for (_item, future, loop), answer in zip(items, answers):
        if not loop.is_closed():
            loop.call_soon_threadsafe(_settle, future, answer, exc)


def _settle(future: asyncio.Future, result, exc: BaseException | None) -> None:
    if future.done():  # the stream went away meanwhile
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


threads = DatabaseThreads()
