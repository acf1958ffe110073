"""Inbox benchmark: the reads of every page view and the retention purge, at a year of notifications.

    createdb -h 127.0.0.1 -U postgres bench_inbox
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_inbox python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_inbox python manage.py bench_inbox  # 20M rows
    ... bench_inbox --rows 2000000 --users 20000 --heavy-rows 20000 --retention-rows 500000  # a quick run

Builds `--users` bench cleaners (bench_fanout's), measures a 100,000 fan-out into the
empty table, loads `--rows` notifications over them in SQL (bench/inbox_data.py; one heavy
user with `--heavy-rows`), then prints p50/p99 (ms) of what a page asks for, through the
product's own selectors: the unread count, the bell's latest 10, list page 1 and page 50
(keyset), and the replay of 100 after Last-Event-ID, for the heavy user and typical ones;
the fan-out into the full table; and bids placed at `--bid-rate` per second (the real
service, its bid_received notification stored in-process) before and while the retention
purge removes `--retention-rows` rows, by `--bid-processes` processes on one schedule
(bench/bidders.py: one process tops out near 1 / a bid's wall time), with how late they started.

Tasks run in this process (no REDIS_URL: the embedded mode), so the fan-out and the bids
time the database work, not a broker.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from bench import inbox_data
from bench.bidders import Bidders
from bench.tables import median, percentile, print_table
from jobs.models import CleaningJob
from notifications import selectors
from notifications.models import Notification, NotificationSequence, RetentionRun
from notifications.sequencing import seq_current
from notifications.sse.opening import REPLAY_LIMIT

from .bench_fanout import Command as FanoutCommand

PAGE = 20


class Command(BaseCommand):
    help = "Measure inbox reads and the retention purge on a table of tens of millions of notifications."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=20_000_000)
        parser.add_argument("--users", type=int, default=100_000)
        parser.add_argument("--heavy-rows", type=int, default=20_000)
        parser.add_argument("--samples", type=int, default=300, help="timed runs of each read")
        parser.add_argument("--fanout", type=int, default=100_000, help="fan-out audience (at most --users)")
        parser.add_argument("--fanout-runs", type=int, default=2)
        parser.add_argument("--retention-rows", type=int, default=5_000_000, help="stop the purge after this many")
        parser.add_argument("--bid-rate", type=float, default=100.0, help="bids per second")
        parser.add_argument("--bid-processes", type=int, default=2, help="processes placing the bids, on one schedule (2 measured best on 2 cores)")
        parser.add_argument("--bid-seconds", type=float, default=30.0, help="baseline bids before the purge")
        parser.add_argument(
            "--bid-jobs", type=int, default=1,
            help="jobs the bids go to, one after the other: each cleaner bids once per job, so a purge longer than "
            "the audience's bids at --bid-rate needs more (5 million rows at the default pause: about 3)",
        )
        parser.add_argument("--purge-pause", type=float, default=settings.RETENTION_PAUSE_SECONDS, help="seconds between purge batches")
        parser.add_argument("--skip-load", action="store_true", help="reuse the rows already loaded")
        parser.add_argument("--skip-reads", action="store_true", help="time no reads (fan-outs only, e.g. interleaved with another database's)")
        parser.add_argument(
            "--skip-purge", action="store_true",
            help="stop after the reads and the fan-out: the table stays as loaded, so another index layout can be measured on it",
        )

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_inbox needs PostgreSQL: set DATABASE_URL.")
        if settings.REDIS_URL:
            raise CommandError("Run without REDIS_URL: tasks run in this process, so the timings are the database's.")
        fanout = FanoutCommand(stdout=self.stdout._out, stderr=self.stderr._out)
        self.stdout.write(f"Preparing {options['users']:,} bench users ...")
        users = fanout._ensure_cleaners(options["users"])
        if len(users) < options["users"]:
            raise CommandError("not enough bench users")
        client = fanout._client()
        audience = users[: min(options["fanout"], len(users))]
        fanout._set_audience(audience)
        heavy, regular = users[0], users[1:]
        results: dict = {}

        if not options["skip_load"]:
            inbox_data.truncate()
            results["fanout_empty"] = [self._fan_out(fanout, client, len(audience), keep=False) for _ in range(options["fanout_runs"])]
            self.stdout.write(f"Loading {options['rows']:,} notifications ...")
            started = time.monotonic()
            loaded = inbox_data.load(rows=options["rows"], heavy_user=heavy, regular_users=regular, heavy_rows=options["heavy_rows"], write=self.stdout.write)
            loaded["seconds"] = time.monotonic() - started
            results["loaded"] = loaded
            self.stdout.write(f"  {loaded['rows']:,} rows, {loaded['bytes'] / 2**30:.1f} GiB in {loaded['seconds']:.0f} s")

        results["reads"] = [] if options["skip_reads"] else self._reads(heavy, regular, options["samples"])
        results["fanout_full"] = [self._fan_out(fanout, client, len(audience), keep=False) for _ in range(options["fanout_runs"])]
        if not options["skip_purge"]:
            results["bids"] = self._bids_and_retention(fanout, client, audience, options)
        self._report(results, options)

    # --- reads --------------------------------------------------------------------------

    def _reads(self, heavy: int, regular: list[int], samples: int) -> list[list]:
        User = Notification._meta.get_field("recipient").related_model
        rng = random.Random(16)
        heavy_users = [User.objects.get(pk=heavy)] * samples
        # A different typical user each time: their rows are mostly not in the cache, as in production.
        typical_users = list(User.objects.filter(pk__in=rng.sample(regular, min(samples, len(regular)))))

        def page_cursor(user, page: int) -> int | None:
            """?before= of page `page`: the id of the last row of the page above it."""
            index = (page - 1) * PAGE - 1
            ids = list(selectors.notifications_for_user(user=user).values_list("pk", flat=True)[index : index + 1])
            return ids[0] if ids else None

        def replay(user) -> list:
            current = seq_current(user_id=user.pk)
            return list(
                Notification.objects.filter(
                    recipient_id=user.pk, seq__gt=current - 100, seq__lte=current, expired_at__isnull=True
                ).order_by("seq")[: REPLAY_LIMIT + 1]
            )

        def keyset(user, before=None):
            return selectors.notifications_keyset_page(selectors.notifications_for_user(user=user), size=PAGE, before=before)

        measures = [
            ("unread count (index-only)", lambda u: selectors.notification_unread_count(user_id=u.pk)),
            ("counter read (comparison)", lambda u: NotificationSequence.objects.filter(user_id=u.pk).values_list("last_seq", flat=True).first()),
            ("bell: latest 10", lambda u: list(selectors.notifications_for_user(user=u)[:10])),
            ("list page 1", keyset),
            ("replay 100 after Last-Event-ID", replay),
        ]
        rows = [[name, *self._time(read, heavy_users), *self._time(read, typical_users)] for name, read in measures]
        heavy_before = page_cursor(heavy_users[0], 50)
        if heavy_before:
            rows.append(["list page 50 (keyset)", *self._time(lambda u: keyset(u, heavy_before), heavy_users), "-", "-"])
            offset = lambda u: list(selectors.notifications_for_user(user=u)[49 * PAGE : 50 * PAGE])  # noqa: E731
            rows.append(["list page 50 (OFFSET, old)", *self._time(offset, heavy_users), "-", "-"])
        cursors = {u.pk: page_cursor(u, 5) for u in typical_users}
        deep = [u for u in typical_users if cursors[u.pk]]
        if deep:
            rows.append(["list page 5 (keyset)", "-", "-", *self._time(lambda u: keyset(u, cursors[u.pk]), deep)])
        return rows

    @staticmethod
    def _time(read, users: list) -> tuple[float, float]:
        """p50, p99 in ms of read(user) over the users, one call each (after one warm-up call)."""
        read(users[0])
        times = []
        for user in users:
            started = time.perf_counter()
            read(user)
            times.append((time.perf_counter() - started) * 1000)
        return median(times), percentile(times, 99)

    # --- the fan-out ------------------------------------------------------------------------

    def _fan_out(self, fanout: FanoutCommand, client, size: int, *, keep: bool) -> float:
        """Seconds to post a job whose job_created fan-out reaches `size` cleaners (inline, in this process)."""
        blocks_before, wal_before = self._index_blocks(), self._wal()
        started = time.monotonic()
        job = fanout._post_job(client)
        seconds = time.monotonic() - started
        read, hit = (after - before for after, before in zip(self._index_blocks(), blocks_before))
        wal_bytes, fpi, checkpoints = (after - before for after, before in zip(self._wal(), wal_before))
        stored = Notification.objects.filter(job_id=job.pk).count()
        if stored != size:
            raise CommandError(f"the fan-out stored {stored} of {size}")
        self.stdout.write(
            f"  fan-out of {size:,}: {seconds:.1f} s; index blocks read from outside shared_buffers {read:,}, hit {hit:,}; "
            f"WAL {wal_bytes / 2**20:,.0f} MiB ({fpi:,} full-page images), checkpoints {checkpoints}"
        )
        if not keep:
            fanout._retire([job.pk])
        return job if keep else seconds

    @staticmethod
    def _index_blocks() -> tuple[int, int]:
        """(read, hit) index blocks of the notifications table so far: misses are pages not in shared_buffers."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT coalesce(sum(idx_blks_read), 0), coalesce(sum(idx_blks_hit), 0) FROM pg_statio_user_indexes "
                f"WHERE relid IN ({inbox_data._tables()})"
            )
            return tuple(int(v) for v in cursor.fetchone())

    @staticmethod
    def _wal() -> tuple[int, int, int]:
        """(WAL bytes, full-page images, checkpoints) so far, of the whole server (other databases' work included)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT w.wal_bytes, w.wal_fpi, b.checkpoints_timed + b.checkpoints_req FROM pg_stat_wal w, pg_stat_bgwriter b"
            )
            return tuple(int(v) for v in cursor.fetchone())

    # --- bids while the purge runs -----------------------------------------------------------

    def _bids_and_retention(self, fanout: FanoutCommand, client, audience: list[int], options) -> dict:
        jobs = [self._fan_out(fanout, client, len(audience), keep=True) for _ in range(max(1, options["bid_jobs"]))]
        rate, processes = options["bid_rate"], options["bid_processes"]
        bidders = Bidders([job.pk for job in jobs], audience, processes=processes)
        try:
            self.stdout.write(f"Bids at {rate:g}/s from {processes} processes, {options['bid_seconds']:g} s without the purge ...")
            baseline = bidders.run(rate, seconds=options["bid_seconds"])
            self.stdout.write(f"Bids while the purge removes up to {options['retention_rows']:,} rows ...")
            # In its own process, as in production (a Celery worker): no GIL shared with the bids.
            RetentionRun.objects.all().delete()
            started = time.monotonic()
            purge_process = subprocess.Popen(
                [sys.executable, "manage.py", "retention_purge", "--until-caught-up", "--budget", "30", "--max-rows", str(options["retention_rows"])],
                cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "RETENTION_PAUSE_SECONDS": str(options["purge_pause"])},
            )
            during = bidders.run(rate, until=lambda: purge_process.poll() is not None)
        finally:
            bidders.close()
        _, errors = purge_process.communicate()
        if purge_process.returncode:
            raise CommandError(f"the purge failed: {errors[-2000:]}")
        runs = list(RetentionRun.objects.order_by("pk"))
        purge = {"runs": runs, "seconds": time.monotonic() - started, "deleted": sum(run.deleted for run in runs)}
        CleaningJob.objects.filter(pk__in=[job.pk for job in jobs]).update(status="cancelled")
        fanout._retire([job.pk for job in jobs])
        return {"baseline": baseline, "during": during, "purge": purge}

    # --- report -------------------------------------------------------------------------------

    def _report(self, results: dict, options) -> None:
        w = self.stdout.write
        loaded = results.get("loaded")
        w("")
        if loaded:
            w(f"Table: {loaded['rows']:,} notifications over {options['users']:,} users (heavy user {loaded['heavy_rows']:,}), "
              f"{loaded['bytes'] / 2**30:.1f} GiB with indexes, loaded in {loaded['seconds']:.0f} s")
        w("")
        if results["reads"]:
            print_table(w, ["read (ms)", "heavy p50", "heavy p99", "typical p50", "typical p99"], results["reads"])
            w("")
        fan_rows = []
        if "fanout_empty" in results:
            fan_rows.append(["empty table", median(results["fanout_empty"]), min(results["fanout_empty"])])
        fan_rows.append(["full table", median(results["fanout_full"]), min(results["fanout_full"])])
        print_table(w, [f"fan-out of {options['fanout']:,} (s)", "median", "best"], fan_rows)
        if "bids" not in results:
            return
        bids = results["bids"]
        purge = bids["purge"]
        w("")
        phases = [("without the purge", bids["baseline"]), ("while the purge runs", bids["during"])]
        print_table(
            w,
            ["bids", "count", "rate/s", "p50 ms", "p99 ms", "max ms", "late p99 ms"],
            [
                [name, len(p.latencies), p.rate, median(p.latencies), percentile(p.latencies, 99),
                 max(p.latencies, default=float("nan")), percentile(p.lateness, 99)]
                for name, p in phases
            ],
        )
        for name, p in phases:
            # The bidders' CPU per bid bounds the rate the machine can offer: cores / CPU per bid.
            w(f"  {name}: bids per process {', '.join(str(n) for n in p.per_process)}; "
              f"bidders' CPU {p.cpu_seconds * 1000 / max(len(p.latencies), 1):.1f} ms per bid, "
              f"{p.cpu_seconds / max(p.seconds, 1e-9):.2f} cores" + ("; ran out of bidders (raise --fanout)" if p.out_of_bidders else ""))
        deleted = purge.get("deleted", 0)
        batches = sum(run.batches for run in purge["runs"])
        w("")
        w(f"Retention purge: {deleted:,} rows deleted in {purge['seconds']:.0f} s ({deleted / max(purge['seconds'], 1e-9):,.0f} rows/s), "
          f"{batches:,} batches of {settings.RETENTION_BATCH_IDS:,} ids, pause {options['purge_pause']:g} s")
        by_type: dict = {}
        for run in purge["runs"]:
            for t, n in run.deleted_by_type.items():
                by_type[t] = by_type.get(t, 0) + n
        w("  by type: " + ", ".join(f"{t} {n:,}" for t, n in sorted(by_type.items())))
