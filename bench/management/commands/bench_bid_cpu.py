"""Where a bid's time goes in the API: CPU per POST /api/jobs/{id}/bids/, its SQL, and a cProfile table.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/11 \
        DEBUG=false SECURE_SSL_REDIRECT=0 BENCH_STOCK_EVENTSTREAM=1 python manage.py bench_bid_cpu --bids 500

In-process, through Django's full request stack (middleware, DRF, token auth, throttle,
the service, the outbox signal, the task enqueued on commit to the real Redis broker),
one bid after another, each by a cleaner with a token on an open job of its own. Prints
the CPU per bid without the profiler (process time), the statements one bid runs, and
the functions with the most cumulative time per bid under cProfile (which inflates
them: read the table for proportions, the first figure for cost).
"""

from __future__ import annotations

import cProfile
import pstats
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client

from bench.data import ensure_tokens, ensure_users, require_full_stack
from bench.management.commands.bench_e2e import CLEANER_PREFIX, CLIENT_PREFIX
from bench.management.commands.bench_e2e import Command as E2eCommand
from bench.tables import print_table
from jobs.models import JobBid
from notifications.catalog import NotificationType
from notifications.models import OutboxEvent


class Command(BaseCommand):
    help = "CPU and SQL per bid placed through the API, with a cProfile 'where the time goes' table."

    def add_arguments(self, parser):
        parser.add_argument("--bids", type=int, default=500, help="bids per pass (each on a job of its own)")
        parser.add_argument("--cleaners", type=int, default=50, help="cleaners placing the bids (round robin)")
        parser.add_argument("--top", type=int, default=25, help="rows of the profile table")
        parser.add_argument(
            "--clock", choices=["wall", "cpu"], default="wall",
            help="the profiler's clock: wall (waits on PostgreSQL and Redis included) or cpu (this process's CPU only)",
        )

    def handle(self, *args, **options):
        require_full_stack()
        if settings.DEBUG:
            raise CommandError("Run with DEBUG=false: DEBUG records every query and inflates the CPU figures.")
        n = options["bids"]
        data = E2eCommand()
        clients = ensure_users(CLIENT_PREFIX, n, self.stdout.write)
        cleaners = ensure_users(CLEANER_PREFIX, options["cleaners"], self.stdout.write)
        data._ensure_profiles(cleaners)
        jobs = data._ensure_jobs(clients)
        tokens = ensure_tokens(cleaners)
        plan = [(jobs[uid], tokens[cleaners[i % len(cleaners)]]) for i, uid in enumerate(clients)]
        settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["bid_place"] = "1000000/min"
        http = Client()

        def place(job_id: int, token: str) -> None:
            response = http.post(
                f"/api/jobs/{job_id}/bids/", {"amount": "90.00", "message": "Can do."},
                content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}",
            )
            if response.status_code != 201:
                raise CommandError(f"bid on job {job_id}: {response.status_code} {response.content[:300]!r}")

        self._clear(jobs)
        # Warm up (imports, URL resolver, first connection), then one bid with its SQL listed.
        place(*plan[0])
        self._clear(jobs)
        statements = []

        def record(execute, sql, params, many, context):
            statements.append(sql)  # every statement, SAVEPOINTs included (request_started clears connection.queries)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            place(*plan[0])
        self._clear(jobs)

        started = time.process_time()
        for job_id, token in plan:
            place(job_id, token)
        cpu_ms = (time.process_time() - started) * 1000 / n
        self._clear(jobs)

        # As under uvicorn: each request ends by handing its connection back (closing it without
        # the pool, DATABASE_POOL=0: the next one connects again).
        started, wall = time.process_time(), time.perf_counter()
        for job_id, token in plan:
            place(job_id, token)
            connection.close()
        handed_back_ms = (time.process_time() - started) * 1000 / n
        handed_back_wall_ms = (time.perf_counter() - wall) * 1000 / n
        self._clear(jobs)

        profile = cProfile.Profile(time.process_time) if options["clock"] == "cpu" else cProfile.Profile()
        profile.enable()
        for job_id, token in plan:
            place(job_id, token)
        profile.disable()
        self._clear(jobs)

        self.stdout.write(f"\nCPU per bid (no profiler, {n} bids): {cpu_ms:.2f} ms; SQL statements per bid: {len(statements)}")
        pooled = bool(connection.settings_dict["OPTIONS"].get("pool"))
        self.stdout.write(
            f"With the connection handed back after each bid ({'to the pool' if pooled else 'closed: no pool'}): "
            f"CPU {handed_back_ms:.2f} ms, wall {handed_back_wall_ms:.2f} ms per bid"
        )
        for i, sql in enumerate(statements, 1):
            self.stdout.write(f"  {i}. {sql[:160]}{' ...' if len(sql) > 160 else ''}")
        self._stages_table(profile, n, cpu_ms, options["clock"])
        self._profile_table(profile, n, options["top"], options["clock"])

    def _stages_table(self, profile: cProfile.Profile, n: int, cpu_ms: float, clock: str) -> None:
        """The profile summed up by stage of the request; ms = share of the profiled request x CPU per bid."""
        stats = pstats.Stats(profile).stats
        cumulative = {}
        for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.items():
            for stage, (suffix, function) in STAGES.items():
                if name == function and filename.endswith(suffix):
                    cumulative[stage] = max(cumulative.get(stage, 0.0), ct)
        request = cumulative.pop("whole request")
        rows = [
            [stage, f"{100 * cumulative[stage] / request:.0f}%", f"{cpu_ms * cumulative[stage] / request:.2f}"]
            for stage in STAGES if stage in cumulative
        ]
        rest = request - sum(ct for stage, ct in cumulative.items() if not stage.startswith("·"))
        rows.append(["the rest: Django, middleware, DRF dispatch, test client", f"{100 * rest / request:.0f}%", f"{cpu_ms * rest / request:.2f}"])
        self.stdout.write(f"\nWhere the time goes, by stage ({clock} clock; ms = share x the {cpu_ms:.2f} ms of CPU per bid):")
        print_table(self.stdout.write, ["stage", "share", "ms/bid"], rows)

    def _profile_table(self, profile: cProfile.Profile, n: int, top: int, clock: str) -> None:
        stats = pstats.Stats(profile)
        total = sum(tt for (_cc, _nc, tt, _ct, _callers) in stats.stats.values())
        self.stdout.write(
            f"\nWhere the time goes (cProfile, {clock} clock, {n} bids; {total * 1000 / n:.2f} ms per bid under the profiler):"
        )
        rows = sorted(stats.stats.items(), key=lambda item: item[1][3], reverse=True)[:top]
        print_table(
            self.stdout.write,
            ["function", "calls/bid", "own ms/bid", "cumulative ms/bid"],
            [
                [_name(func), f"{nc / n:.1f}", f"{tt * 1000 / n:.2f}", f"{ct * 1000 / n:.2f}"]
                for func, (_cc, nc, tt, ct, _callers) in rows
            ],
        )

    def _clear(self, jobs: dict[int, int]) -> None:
        """Drop the bids and their outbox rows (no worker runs here; their queued tasks find nothing)."""
        bid_ids = list(JobBid.objects.filter(job_id__in=jobs.values()).values_list("pk", flat=True))
        OutboxEvent.objects.filter(event_type=NotificationType.BID_RECEIVED, payload__bid_id__in=bid_ids).delete()
        JobBid.objects.filter(pk__in=bid_ids).delete()


# Stage -> (file, function) whose cumulative time it is. Rows marked · are part of the row above.
STAGES = {
    "whole request": ("django/test/client.py", "request"),
    "token authentication (1 SELECT)": ("rest_framework/views.py", "perform_authentication"),
    "throttle (one Redis script)": ("rest_framework/views.py", "check_throttles"),
    "input serializer": ("jobs/api.py", "validated"),
    "service: job_for_bid, checks, INSERTs": ("jobs/services.py", "_bid_place"),
    "· job_for_bid (SELECT ... FOR UPDATE)": ("jobs/selectors.py", "job_for_bid"),
    "· bid INSERT + outbox INSERT (post_save)": ("django/db/models/base.py", "save"),
    "COMMIT + on-commit hooks": ("django/db/transaction.py", "__exit__"),
    "· Celery send (task + task-sent event)": ("celery/app/task.py", "apply_async"),
    "output serializer": ("rest_framework/serializers.py", "data"),
}


def _name(func: tuple) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    for marker in ("site-packages/", "/bidpath/", "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})"
