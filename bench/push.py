"""Web Push throughput: N pushes through push_send with K threads sharing the pooled session, to a local push service."""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from devtools.push_service import BrowserSubscription, push_service_stats
from webpush.models import PushSubscription
from webpush.payloads import push_payload
from webpush.sending import push_send, push_session


@dataclass
class PushRun:
    threads: int
    pushes: int
    seconds: float
    failed: int
    connections: int  # TCP connections the push service accepted during the run

    @property
    def per_second(self) -> float:
        return self.pushes / self.seconds if self.seconds else float("nan")


def browsers_on(origin: str, count: int) -> list[PushSubscription]:
    """Unsaved subscription rows with real browser keys (push_send reads only their fields)."""
    rows = []
    for i in range(count):
        keys = BrowserSubscription(f"{origin}/push/bench-{i}")
        rows.append(PushSubscription(endpoint=keys.endpoint, p256dh=keys.p256dh, auth=keys.auth))
    return rows


def push_throughput(*, origin: str, pushes: int, threads: int, browsers: list[PushSubscription]) -> PushRun:
    """Send `pushes` pushes (each encrypted for its browser, a realistic payload) over `threads` threads."""
    session = push_session()
    payloads = [
        push_payload(title=f"New job: deep clean #{i}", body="Two bedrooms, kitchen, bathroom. 3.5 h, €140, 2.1 km away.",
                     url=f"/jobs/{i}/", notification_id=i, type="job_created")
        for i in range(pushes)
    ]
    before = push_service_stats(origin)

    def send(i: int) -> str:
        return push_send(browsers[i % len(browsers)], payloads[i], session=session).status

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        statuses = list(pool.map(send, range(pushes)))
    seconds = time.perf_counter() - started
    after = push_service_stats(origin)
    return PushRun(threads, pushes, seconds, sum(status != "sent" for status in statuses), after["connections"] - before["connections"])
