"""Bid to browser: bids posted through the REST API reach the job's client's open stream.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/11 \
        python manage.py bench_e2e --connections 1000 --rate 50 --seconds 10 --runs 3

--connections clients, each with an open job, hold /events/ open (raw asyncio clients,
as in bench_streams). Cleaners POST /api/jobs/{id}/bids/ to the same uvicorn at
--rate per second (open loop: each POST leaves at its time, whatever the earlier
ones are doing). A real Celery worker (--concurrency processes) turns each bid's
outbox row into the client's bid_received notification and publishes it; uvicorn
relays it through Redis to the stream. Latency: from the moment the POST is sent to
the client's receipt of that `notification` event (matched by metadata.bid_id).

The bid_place throttle is lifted for the run (THROTTLE_BID_PLACE=100000/min).

--rate takes several rates (25,50,100) and --servers several set-ups of the web process and
the worker (see SERVERS): each run goes through every set-up and rate in turn, so that
they share the machine's load.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.backends.signals import connection_created
from django.utils import timezone

from bench.data import ensure_tokens, ensure_users, require_full_stack
from bench.management.commands.bench_streams import _tag_connection
from bench.measure import Sampler, pg_connections, raise_nofile
from bench.processes import start_server, start_worker
from bench.sse_clients import StreamLoad
from bench.tables import median, percentile, print_table
from jobs.models import CleanerProfile, CleaningJob, JobBid, JobStatus, ServiceType, Weekday
from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxChunk, OutboxEvent, OutboxStatus

CLIENT_PREFIX = "bench-e2e-client-"
CLEANER_PREFIX = "bench-e2e-cleaner-"
# A place of its own (Lisbon): no other benchmark's or the demo's cleaners serve it.
LAT, LON = 38.7223, -9.1393
TARGET_P99_MS = 50
# The set-ups --servers compares: environment of the web process and the worker.
SERVERS = {
    "pool": {"DATABASE_POOL": "1", "WEB_CONCURRENCY": "1"},
    "pool-c4": {"DATABASE_POOL": "1", "WEB_CONCURRENCY": "1", "WEB_MAX_CONCURRENT_REQUESTS": "4"},
    "pool-c8": {"DATABASE_POOL": "1", "WEB_CONCURRENCY": "1", "WEB_MAX_CONCURRENT_REQUESTS": "8"},
    "pool-c24": {"DATABASE_POOL": "1", "WEB_CONCURRENCY": "1", "WEB_MAX_CONCURRENT_REQUESTS": "24"},
    "no-pool": {"DATABASE_POOL": "0", "WEB_CONCURRENCY": "1"},
    "pool-2web": {"DATABASE_POOL": "1", "WEB_CONCURRENCY": "2"},
    "no-pool-2web": {"DATABASE_POOL": "0", "WEB_CONCURRENCY": "2"},
}


class Command(BaseCommand):
    help = "Latency from a bid POSTed through the API to the client's SSE notification, with many streams open."

    def add_arguments(self, parser):
        parser.add_argument("--connections", type=int, default=1000, help="clients holding a stream, each with an open job")
        parser.add_argument("--rate", default="50", help="bids per second; several, comma-separated, run in turn")
        parser.add_argument("--servers", default="pool", help=f"set-ups, comma-separated, run in turn: {', '.join(SERVERS)}")
        parser.add_argument("--seconds", type=float, default=10, help="how long bids are posted")
        parser.add_argument("--runs", type=int, default=3, help="runs; medians are printed")
        parser.add_argument("--cleaners", type=int, default=50, help="cleaners placing the bids (round robin)")
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
        parser.add_argument("--client-processes", type=int, default=2, help="processes holding the client streams")
        parser.add_argument("--drain", type=float, default=5, help="seconds to wait for the last notifications")

    def handle(self, *args, **options):
        require_full_stack()
        n, seconds = options["connections"], options["seconds"]
        try:
            rates = [float(r) for r in str(options["rate"]).split(",")]
        except ValueError:
            raise CommandError(f"--rate: numbers, comma-separated, not {options['rate']!r}") from None
        servers = options["servers"].split(",")
        unknown = [name for name in servers if name not in SERVERS]
        if unknown:
            raise CommandError(f"--servers: unknown {', '.join(unknown)} (known: {', '.join(SERVERS)})")
        bids_per_run = {rate: int(rate * seconds) for rate in rates}
        if n < 1 or min(bids_per_run.values()) < 1:
            raise CommandError("--connections and --rate x --seconds must be positive")
        if max(bids_per_run.values()) > n:
            raise CommandError(f"{max(bids_per_run.values())} bids need as many jobs: use --connections >= {max(bids_per_run.values())}")
        self.options = options
        raise_nofile(max(65536, 3 * n + 1000))
        connection_created.connect(_tag_connection, dispatch_uid="bench_e2e")

        self.stdout.write(f"Preparing {n:,} clients with an open job and {options['cleaners']} cleaners ...")
        clients = ensure_users(CLIENT_PREFIX, n, self.stdout.write)
        cleaners = ensure_users(CLEANER_PREFIX, options["cleaners"], self.stdout.write)
        self._ensure_profiles(cleaners)
        jobs = self._ensure_jobs(clients)
        client_tokens = ensure_tokens(clients)
        cleaner_tokens = ensure_tokens(cleaners)
        self._clear(jobs)

        env = {
            "DEBUG": "false", "SECURE_SSL_REDIRECT": "0", "SECRET_KEY": settings.SECRET_KEY, "LOG_LEVEL": "WARNING",
            "THROTTLE_BID_PLACE": "100000/min", "GRIP_URL": "",
        }
        results = {(name, rate): [] for name in servers for rate in rates}
        self.loads = []
        for run in range(options["runs"]):
            for name in servers:
                worker = start_worker(options["concurrency"], env={**env, **SERVERS[name]})
                server, base_url = start_server(env={**env, **SERVERS[name]})
                try:
                    for rate in rates:
                        self.loads.append(os.getloadavg()[0])
                        self.stdout.write(f"  run {run + 1}, {name}, {rate:g} bids/s (load {self.loads[-1]:.2f}) ...")
                        results[name, rate].append(self._run(
                            base_url, clients, client_tokens, cleaners, cleaner_tokens, jobs, bids_per_run[rate], rate, run
                        ))
                        self._clear(jobs)
                finally:
                    server.stop()
                    worker.stop()
        self._report(results)

    # --- data ------------------------------------------------------------------------------

    def _ensure_profiles(self, cleaners: list[int]) -> None:
        have = set(CleanerProfile.objects.filter(user_id__in=cleaners).values_list("user_id", flat=True))
        CleanerProfile.objects.bulk_create([
            CleanerProfile(
                user_id=uid, service_types=frozenset(ServiceType.values), working_days=frozenset(Weekday.values),
                latitude=LAT, longitude=LON, service_radius_km=30, is_verified=True,
            )
            for uid in cleaners if uid not in have
        ])

    def _ensure_jobs(self, clients: list[int]) -> dict[int, int]:
        """client id -> their open benchmark job (bulk-inserted: no job_created fan-out)."""
        start = timezone.now() + timedelta(days=5)
        jobs = dict(
            CleaningJob.objects.filter(client_id__in=clients, status=JobStatus.OPEN, title="Benchmark bid target")
            .values_list("client_id", "pk")
        )
        # Keep them in the future.
        CleaningJob.objects.filter(pk__in=jobs.values(), scheduled_start__lt=timezone.now() + timedelta(days=1)).update(
            scheduled_start=start
        )
        missing = [uid for uid in clients if uid not in jobs]
        for i in range(0, len(missing), 5000):
            CleaningJob.objects.bulk_create([
                CleaningJob(
                    client_id=uid, title="Benchmark bid target", service_type=ServiceType.OFFICE, address="Praça do Comércio 1",
                    city="Lisbon", latitude=LAT, longitude=LON, scheduled_start=start, duration_hours=Decimal("3"),
                    budget=Decimal("100"), status=JobStatus.OPEN,
                )
                for uid in missing[i:i + 5000]
            ])
        if missing:
            jobs = dict(
                CleaningJob.objects.filter(client_id__in=clients, status=JobStatus.OPEN, title="Benchmark bid target")
                .values_list("client_id", "pk")
            )
        return jobs

    def _clear(self, jobs: dict[int, int], timeout: float = 60) -> None:
        """Drop the runs' bids, their notifications and outbox rows (once the worker is done with them)."""
        bid_ids = list(JobBid.objects.filter(job_id__in=jobs.values()).values_list("pk", flat=True))
        if not bid_ids:
            return
        events = OutboxEvent.objects.filter(event_type=NotificationType.BID_RECEIVED, payload__bid_id__in=bid_ids)
        deadline = time.monotonic() + timeout
        while events.exclude(status=OutboxStatus.DONE).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        event_ids = list(events.values_list("pk", flat=True))
        Notification.objects.filter(event_id__in=event_ids).delete()
        OutboxChunk.objects.filter(event_id__in=event_ids).delete()
        OutboxEvent.objects.filter(pk__in=event_ids).delete()
        JobBid.objects.filter(pk__in=bid_ids).delete()

    # --- one run ---------------------------------------------------------------------------

    def _run(self, base_url, clients, client_tokens, cleaners, cleaner_tokens, jobs, bids, rate, run) -> dict:
        import random

        opts = self.options
        auths = [(uid, f"Authorization: Token {client_tokens[uid]}") for uid in clients]
        load = StreamLoad(base_url, "/events/", auths, event="notification", key="metadata.bid_id",
                                processes=opts["client_processes"], timeout=60)
        connect_s = load.start(timeout=max(600, len(auths) / 10))
        if load.opened < len(auths):
            self.stderr.write(f"    only {load.opened}/{len(auths)} streams opened: {load.failed}")
        time.sleep(1)
        targets = random.Random(run).sample(sorted(load.opened_ids), bids)
        plan = [(jobs[uid], uid, cleaners[i % len(cleaners)]) for i, uid in enumerate(targets)]
        with Sampler(pg_connections, 0.25) as pg:
            posts = asyncio.run(self._post_bids(base_url, plan, cleaner_tokens, rate))
            time.sleep(opts["drain"])
        receipts = load.stop()
        connections.close_all()

        sent = {p["bid_id"]: p for p in posts if p["bid_id"] is not None}
        latencies, seen, wrong = [], set(), 0
        first_second, after_first_second = [], []  # by when the POST left: a fresh server's warm-up, then the steady state
        started_at = min((p["sent_at"] for p in posts), default=0)
        slowest = {}  # second of the run -> its slowest bid, ms
        for uid, bid_id, received_at in receipts:
            post = sent.get(bid_id)
            if post is None or post["client"] != uid:
                wrong += 1
                continue
            if bid_id not in seen:
                seen.add(bid_id)
                latencies.append((received_at - post["sent_at"]) * 1000)
                (first_second if post["sent_at"] - started_at < 1 else after_first_second).append(latencies[-1])
                slowest[int(post["sent_at"] - started_at)] = max(slowest.get(int(post["sent_at"] - started_at), 0), latencies[-1])
        api = [p["api_ms"] for p in posts if p["bid_id"] is not None]
        stages = self._stages(sent, {bid_id: t for uid, bid_id, t in receipts if bid_id in seen})
        errors = {}
        for p in posts:
            if p["bid_id"] is None:
                errors[p["error"]] = errors.get(p["error"], 0) + 1
        result = {
            "streams": load.opened, "connect_s": connect_s, "posted": len(posts), "created": len(sent),
            "delivered": len(seen), "wrong": wrong, "errors": errors,
            "api_p50": percentile(api, 50), "api_p99": percentile(api, 99),
            "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "p99_first_s": percentile(first_second, 99), "p99_after_first_s": percentile(after_first_second, 99),
            "max": max(latencies, default=float("nan")), "pg_max": max(pg.values, default=float("nan")),
            **stages,
        }
        self.stdout.write(
            f"    {load.opened:,} streams open in {connect_s:.1f}s; {len(sent)}/{len(posts)} bids created, "
            f"{len(seen)} delivered; API p50 {result['api_p50']:.1f} ms p99 {result['api_p99']:.1f} ms; "
            f"POST->SSE p50 {result['p50']:.1f} ms p99 {result['p99']:.1f} ms max {result['max']:.0f} ms "
            f"(p99 of the first second's bids {result['p99_first_s']:.0f} ms, of the rest {result['p99_after_first_s']:.0f} ms)"
            + (f"; errors {errors}" if errors else "")
        )
        if self.options["verbosity"] > 1:
            self.stdout.write("    slowest bid per second of the run, ms: " + ", ".join(f"{slowest[s]:.0f}" for s in sorted(slowest)))
        return result

    def _stages(self, sent: dict, received: dict) -> dict:
        """Where the time goes, per delivered bid, from the rows' own timestamps (one clock: this machine's).

        recorded: the outbox row written in the API's transaction; stored: the notification
        inserted by the worker.
        """
        events = dict(
            OutboxEvent.objects.filter(event_type=NotificationType.BID_RECEIVED, payload__bid_id__in=list(received))
            .values_list("pk", "payload__bid_id")
        )
        recorded = dict(OutboxEvent.objects.filter(pk__in=events).values_list("pk", "created_at"))
        stored = dict(Notification.objects.filter(event_id__in=events).values_list("event_id", "created_at"))
        to_recorded, recorded_to_stored, stored_to_browser = [], [], []
        for event_id, bid_id in events.items():
            if event_id not in stored or bid_id not in received:
                continue
            to_recorded.append((recorded[event_id].timestamp() - sent[bid_id]["sent_at"]) * 1000)
            recorded_to_stored.append((stored[event_id] - recorded[event_id]).total_seconds() * 1000)
            stored_to_browser.append((received[bid_id] - stored[event_id].timestamp()) * 1000)
            if self.options["verbosity"] > 2:
                self.stdout.write(
                    f"    bid {bid_id}: sent at {sent[bid_id]['sent_at']:.3f}, API {sent[bid_id]['api_ms']:.0f} ms; outbox row "
                    f"{to_recorded[-1]:.0f}, stored {recorded_to_stored[-1]:.0f}, received {stored_to_browser[-1]:.0f} ms later"
                )
        return {
            "post_to_recorded_p50": percentile(to_recorded, 50), "post_to_recorded_p99": percentile(to_recorded, 99),
            "recorded_to_stored_p50": percentile(recorded_to_stored, 50),
            "recorded_to_stored_p99": percentile(recorded_to_stored, 99),
            "stored_to_browser_p50": percentile(stored_to_browser, 50),
            "stored_to_browser_p99": percentile(stored_to_browser, 99),
        }

    async def _post_bids(self, base_url, plan, cleaner_tokens, rate) -> list[dict]:
        """Open loop: POST i leaves at start + i/rate on its own task, whatever the others are doing."""
        import httpx

        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
            # Warm the pool: the first requests should not pay for TCP connects.
            await asyncio.gather(*(client.get("/healthz") for _ in range(20)), return_exceptions=True)
            loop = asyncio.get_running_loop()
            start = loop.time() + 0.1

            async def one(i, job_id, client_id, cleaner_id):
                await asyncio.sleep(max(0, start + i / rate - loop.time()))
                sent_at = time.time()
                record = {"client": client_id, "sent_at": sent_at, "bid_id": None, "error": None, "api_ms": None}
                try:
                    response = await client.post(
                        f"/api/jobs/{job_id}/bids/", json={"amount": "80.00", "message": "Benchmark bid"},
                        headers={"Authorization": f"Token {cleaner_tokens[cleaner_id]}"},
                    )
                    record["api_ms"] = (time.time() - sent_at) * 1000
                    if response.status_code == 201:
                        record["bid_id"] = response.json()["id"]
                    else:
                        record["error"] = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    record["error"] = type(exc).__name__
                return record

            return await asyncio.gather(*(one(i, *p) for i, p in enumerate(plan)))

    # --- report ----------------------------------------------------------------------------

    def _report(self, results: dict) -> None:
        opts = self.options
        self.stdout.write("")
        self.stdout.write(
            f"Bid to browser, medians of {opts['runs']} runs, {opts['seconds']:g} s of bids each through "
            f"POST /api/jobs/{{id}}/bids/, {opts['concurrency']} worker processes; load average "
            f"{min(self.loads):.2f}-{max(self.loads):.2f} before the runs"
        )
        headers = ["server", "bids/s", "streams", "connect s", "bids created/posted", "delivered", "API p50 ms", "API p99 ms",
                   "POST->SSE p50 ms", "POST->SSE p99 ms", "p99 1st s ms", "p99 after ms", "max ms", "PG conns max"]
        rows, stages = [], []
        for (name, rate), runs in results.items():
            med = lambda key: median(r[key] for r in runs)  # noqa: E731
            rows.append([
                name, f"{rate:g}", f"{med('streams'):,.0f}", med("connect_s"), f"{med('created'):,.0f}/{med('posted'):,.0f}",
                f"{med('delivered'):,.0f}", med("api_p50"), med("api_p99"), med("p50"), med("p99"), med("p99_first_s"), med("p99_after_first_s"), med("max"), med("pg_max"),
            ])
            stages.append(
                f"  {name}, {rate:g} bids/s: {med('post_to_recorded_p50'):,.1f} / {med('post_to_recorded_p99'):,.1f} | "
                f"{med('recorded_to_stored_p50'):,.1f} / {med('recorded_to_stored_p99'):,.1f} | "
                f"{med('stored_to_browser_p50'):,.1f} / {med('stored_to_browser_p99'):,.1f}"
            )
        print_table(self.stdout.write, headers, rows)
        self.stdout.write("Where the time goes (p50 / p99 ms): POST sent -> outbox row written (API) | "
                          "-> notification stored (queue + worker) | -> received (publish, Redis, relay)")
        for line in stages:
            self.stdout.write(line)
        for (name, rate), runs in results.items():
            p99 = median(r["p99"] for r in runs)
            verdict = "met" if p99 < TARGET_P99_MS else f"missed by {p99 - TARGET_P99_MS:,.0f} ms ({p99 / TARGET_P99_MS:.1f}x)"
            self.stdout.write(f"{name}, {rate:g} bids/s: target p99 < {TARGET_P99_MS} ms {verdict}; "
                              "p99 per run " + " / ".join(f"{r['p99']:,.0f}" for r in runs) + " ms.")
            for i, r in enumerate(runs, 1):
                if r["errors"] or r["wrong"] or r["delivered"] < r["created"]:
                    self.stdout.write(f"  run {i}: errors {r['errors'] or 'none'}; delivered {r['delivered']}/{r['created']}"
                                      + (f"; {r['wrong']} to a wrong user" if r["wrong"] else ""))
