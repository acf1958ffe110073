"""Reconnect storm: the web process restarted under many open streams while notifications flow.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/11 \
        python manage.py bench_reconnect --connections 10000 --runs 3

--connections users, each with a DRF token, hold /events/ on one uvicorn process through
clients that behave like EventSource (bench/reconnecting_clients.py: the server's jittered
`retry:`, then `Last-Event-ID`). This process stores notifications for random users at
--rate per second (real rows with their seqs, published after commit as the product does).
After --before seconds the web tier restarts, in one of two ways (--restarts, runs taking turns):

  hard     one web process, stopped (SIGTERM: its streams end), then a new one started on the port
  rolling  WEB_CONCURRENCY=2 under uvicorn's supervisor, sent SIGHUP: each worker's replacement
           starts and is ready before the old worker stops, so the port never goes dark
 Reported: seconds from the stop until every client is back (a
new stream_open), each client's longest gap (from its stream's end to its next
stream_open), and until every client is caught up (holds every notification stored for
it before it came back); notifications lost and received twice, per client, by row id and
by seq; latency (stored -> received) of the notifications stored during the storm.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction

from bench.data import ensure_tokens, ensure_users, require_full_stack
from bench.measure import raise_nofile
from bench.processes import start_server
from bench.reconnecting_clients import ReconnectingClients
from bench.tables import median, percentile, print_table
from devtools.processes import free_port
from notifications.catalog import NotificationType
from notifications.models import Notification
from notifications.sse import publishing

USER_PREFIX = "bench-stream-"  # bench_streams' users
TARGET_BACK_S = 20
RESTARTS = ("hard", "rolling")
# A worker that is not ready within uvicorn's default 5 s aborts a rolling restart; under a
# reconnect storm on 2 cores starting one takes longer (the deploy commands pass the same).
WORKER_READY_TIMEOUT = ("--timeout-worker-healthcheck", "60")


class Command(BaseCommand):
    help = "Restart the web process under many open streams; time until every client is back and caught up."

    def add_arguments(self, parser):
        parser.add_argument("--connections", type=int, default=10000)
        parser.add_argument("--rate", type=float, default=50, help="notifications stored per second, to random users")
        parser.add_argument("--before", type=float, default=5, help="seconds of notifications before the restart")
        parser.add_argument("--after", type=float, default=5, help="seconds of notifications once every client is back")
        parser.add_argument("--runs", type=int, default=3)
        parser.add_argument("--restarts", default="hard,rolling", help="any of " + ", ".join(RESTARTS))
        parser.add_argument("--client-processes", type=int, default=2)
        parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for every client to be back")

    def handle(self, *args, **options):
        require_full_stack()
        n = options["connections"]
        if n < 1:
            raise CommandError("--connections must be positive")
        self.options = options
        raise_nofile(max(65536, 3 * n + 1000))
        self.stdout.write(f"Preparing {n:,} benchmark users with tokens ...")
        self.user_ids = ensure_users(USER_PREFIX, n, self.stdout.write)
        self.tokens = ensure_tokens(self.user_ids)
        restarts = [r.strip() for r in options["restarts"].split(",") if r.strip()]
        if not restarts or set(restarts) - set(RESTARTS):
            raise CommandError("--restarts: any of " + ", ".join(RESTARTS))
        results = {restart: [] for restart in restarts}
        for run in range(options["runs"]):  # the restarts take turns: a noisy minute hits both
            for restart in restarts:
                results[restart].append(self._run(run, restart))
        for restart, runs in results.items():
            self._report(restart, runs)

    def _run(self, run: int, restart: str) -> dict:
        opts = self.options
        load = os.getloadavg()[0]
        self.stdout.write(f"  {restart} restart, run {run + 1} (load {load:.2f}) ...")
        Notification.objects.filter(recipient_id__in=self.user_ids).delete()  # each run's rows only
        env = {"DEBUG": "false", "SECURE_SSL_REDIRECT": "0", "SECRET_KEY": settings.SECRET_KEY, "LOG_LEVEL": "WARNING",
               "GRIP_URL": "", "WEB_CONCURRENCY": "2" if restart == "rolling" else "1"}
        port = free_port()
        extra_args = WORKER_READY_TIMEOUT if restart == "rolling" else ()
        server, base_url = start_server(port=port, env=env, extra_args=extra_args)
        clients = ReconnectingClients(base_url, [(uid, f"Authorization: Token {self.tokens[uid]}") for uid in self.user_ids],
                                      processes=opts["client_processes"])
        stored: dict[int, tuple[int, int, float]] = {}  # notification id -> (user, seq, stored at)
        stop = threading.Event()
        publisher = threading.Thread(target=self._publish, args=(stored, stop), daemon=True)
        try:
            started = time.time()
            clients.start()
            connect_s = clients.wait_open_since(started, timeout=opts["timeout"] * 5)
            if connect_s is None:
                raise CommandError("the streams did not all open")
            publisher.start()
            time.sleep(opts["before"])
            stopped_at = time.time()
            if restart == "rolling":
                os.kill(server.proc.pid, signal.SIGHUP)  # uvicorn's supervisor replaces its workers one by one
                down_s = up_s = float("nan")
            else:
                server.stop()
                down_s = time.time() - stopped_at
                server, _ = start_server(port=port, env=env)
                up_s = time.time() - stopped_at
            back_s = clients.wait_open_since(stopped_at, timeout=opts["timeout"])
            time.sleep(opts["after"])
        finally:
            stop.set()
            if publisher.is_alive():
                publisher.join(timeout=30)
            time.sleep(2)  # the last frames
            streams = clients.stop()
            server.stop()
            connections.close_all()
        result = self._analyse(streams, stored, stopped_at, back_s)
        result.update(load=load, connect_s=connect_s, down_s=down_s, up_s=up_s)
        self.stdout.write(
            f"    {n_fmt(len(streams))} streams open in {connect_s:.1f}s; {_restart_told(restart, down_s, up_s)}; all back in "
            f"{fmt_s(back_s)}, all caught up in {fmt_s(result['caught_up_s'])}; stored {result['stored']:,}, "
            f"lost {result['lost']}, twice {result['twice']} (by seq {result['twice_seq']}), not ours {result['unknown']}; storm p50 {result['storm_p50']:.0f} ms, "
            f"p99 {result['storm_p99']:.0f} ms ({result['storm_count']} stored in the storm)"
        )
        return result

    def _publish(self, stored: dict, stop: threading.Event) -> None:
        """Notifications at the rate, each stored with its seq and published after its commit."""
        rate = self.options["rate"]
        rng = random.Random(1)
        start = time.perf_counter()
        i = 0
        try:
            while not stop.is_set():
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                uid = rng.choice(self.user_ids)
                with transaction.atomic():
                    row = Notification.objects.create(
                        recipient_id=uid, notification_type=NotificationType.SYSTEM_ALERT, title=f"Storm {i}",
                    )
                    transaction.on_commit(lambda row=row: publishing.publish_notification_rows([row]))
                stored[row.pk] = (uid, row.seq, time.time())
                i += 1
        finally:
            connections.close_all()

    def _analyse(self, streams: list[tuple], stored: dict, stopped_at: float, back_s: float | None) -> dict:
        by_user = {}
        seq_of = {nid: seq for nid, (_uid, seq, _at) in stored.items()}
        for nid, (uid, seq, at) in stored.items():
            by_user.setdefault(uid, []).append((nid, seq, at))
        lost = twice = twice_seq = unknown = 0
        caught_up, latencies, storm_latencies, gaps = [], [], [], []
        storm_end = stopped_at + (back_s if back_s is not None else self.options["timeout"])
        for uid, opens, received, _resets, _refused, ends in streams:
            # The page's longest wait: from a stream's end to its next stream_open (a stream still
            # down at the end counts from its end to now; the ends of the final stop are left out).
            finished = max(opens, default=0.0)
            gaps.append(max((min((t for t in opens if t >= end), default=time.time()) - end
                             for end in ends if stopped_at <= end <= finished or (end >= stopped_at and back_s is None)),
                            default=0.0))
            ids = Counter(nid for nid, _sse_id, _at in received)
            seqs = Counter(seq_of.get(nid) for nid in ids.elements())  # one seq per row: the same count, checked
            twice += sum(c - 1 for c in ids.values())
            twice_seq += sum(c - 1 for seq, c in seqs.items() if seq is not None)
            unknown += seqs.get(None, 0)  # a row this run did not store (would be a wrong user's)
            first_at = {}
            for nid, _seq, at in received:
                first_at.setdefault(nid, at)
            back_at = min((t for t in opens if t >= stopped_at), default=None)
            done_at = back_at
            for nid, seq, at in by_user.get(uid, []):
                if nid not in first_at:
                    lost += 1
                    continue
                latency = (first_at[nid] - at) * 1000
                latencies.append(latency)
                if stopped_at <= at <= storm_end:
                    storm_latencies.append(latency)
                if back_at is not None and at < back_at:
                    done_at = max(done_at, first_at[nid])
            if done_at is not None:
                caught_up.append(done_at - stopped_at)
        everyone_back = back_s is not None and len(caught_up) == len(streams)
        return {
            "streams": len(streams), "back_s": back_s, "caught_up_s": max(caught_up) if everyone_back else None,
            "back_p50_s": median(min((t for t in opens if t >= stopped_at), default=float("nan")) - stopped_at
                                 for _uid, opens, *_ in streams),
            "gap_p50_s": percentile(gaps, 50), "gap_p99_s": percentile(gaps, 99), "gap_max_s": max(gaps, default=float("nan")),
            "stored": len(stored), "lost": lost, "twice": twice, "twice_seq": twice_seq, "unknown": unknown,
            "storm_count": len(storm_latencies), "storm_p50": percentile(storm_latencies, 50),
            "storm_p99": percentile(storm_latencies, 99), "p99": percentile(latencies, 99),
            "resets": sum(resets for _uid, _opens, _received, resets, _refused, _ends in streams),
            "refused": sum((Counter(refused) for _uid, _opens, _received, _resets, refused, _ends in streams), Counter()),
        }

    def _report(self, restart: str, results: list[dict]) -> None:
        opts = self.options
        med = lambda key: median(r[key] for r in results)  # noqa: E731
        tier = "one web process, stopped and started" if restart == "hard" else "two web processes, rolling restart (SIGHUP)"
        self.stdout.write("")
        self.stdout.write(
            f"Reconnect storm, medians of {opts['runs']} runs: {opts['connections']:,} streams on {tier}, restarted "
            f"{opts['before']:g} s into {opts['rate']:g} stored notifications/s; retry: {settings.SSE_RETRY_MIN_MS}-"
            f"{settings.SSE_RETRY_MAX_MS} ms; load average before the runs "
            + " / ".join(f"{r['load']:.2f}" for r in results)
        )
        print_table(self.stdout.write, [
            "streams", "connect s", "server down s", "back p50 s", "all back s", "page's gap p50 / p99 / max s",
            "all caught up s", "stored", "lost", "twice", "storm p50 ms", "storm p99 ms", "p99 ms (all)",
        ], [[
            f"{med('streams'):,.0f}", med("connect_s"), "-" if restart == "rolling" else med("up_s"), med("back_p50_s"),
            med("back_s"), f"{med('gap_p50_s'):.1f} / {med('gap_p99_s'):.1f} / {med('gap_max_s'):.1f}", med("caught_up_s"),
            f"{med('stored'):,.0f}", sum(r["lost"] for r in results), sum(r["twice"] for r in results),
            med("storm_p50"), med("storm_p99"), med("p99"),
        ]])
        self.stdout.write("Runs: all back " + " / ".join(fmt_s(r["back_s"]) for r in results)
                          + "; all caught up " + " / ".join(fmt_s(r["caught_up_s"]) for r in results))
        for i, r in enumerate(results, 1):
            if r["refused"] or r["resets"]:
                self.stdout.write(f"  run {i}: connects that failed while the server was down or busy: "
                                  + ", ".join(f"{k} x{v}" for k, v in sorted(r["refused"].items()))
                                  + (f"; {r['resets']} told to reload" if r["resets"] else ""))
        back = med("back_s")
        self.stdout.write(f"Target: all back within {TARGET_BACK_S} s: " + ("met." if back == back and back <= TARGET_BACK_S
                                                                             else f"missed ({fmt_s(back)}).")
                          + " Runs' longest gaps: " + " / ".join(fmt_s(r["gap_max_s"]) for r in results))


def _restart_told(restart: str, down_s: float, up_s: float) -> str:
    if restart == "rolling":  # uvicorn's supervisor swaps its workers; no moment when the port is closed
        return "workers replaced one by one"
    return f"old server stopped in {down_s:.1f}s, new one up at {up_s:.1f}s"


def fmt_s(seconds: float | None) -> str:
    return "never" if seconds is None or seconds != seconds else f"{seconds:.1f} s"


def n_fmt(n: int) -> str:
    return f"{n:,}"
