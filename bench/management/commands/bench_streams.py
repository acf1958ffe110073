"""Open-streams benchmark: many authenticated SSE streams on one ASGI server, events at a steady rate.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/11 \
        python manage.py bench_streams --connections 1000,5000,10000 --runs 3

For every size and run: a fresh uvicorn process (one worker, as deployed); that
many distinct users, each with a DRF token, open /events/ (raw asyncio clients in
--client-processes processes, HTTP/1.1 written by hand); then --rate events per
second for --seconds go through notifications.sse.publishing.publish, each to a random
connected user, carrying its publish time. Reported: time until every stream is
open, the CPU per opening of the server and of the client processes (theirs share the
machine's cores with the server's), the server's RSS and threads (from /proc), PostgreSQL connections in use
while the events flow (sampled, the benchmark's own excluded), events delivered
vs sent, and latency from publish to receipt.

Paths compared in the same run (--paths):
  direct   /events/ served by uvicorn itself (Redis pub/sub to the process's hub)
  direct-nofreeze  the same with STREAM_GC_FREEZE=0 (notifications/sse/gc_policy.py off)
  direct-acks  the same as direct, and every client acks each event's receipt the way the page
           does (bench/receipt_acks.py: POST /api/notifications/receipts/ to the same server);
           the ids are the events' own (no rows behind them), so each ack costs the request and
           one indexed UPDATE that finds nothing (batched by the door's writer)
  direct-api-acks  the same, the acks sent through the API's door (POST /api/notifications/receipts/,
           Django and DRF, by DRF token) instead of the pages' receipts door
  pushpin  Pushpin in front (GRIP): the app answers at once, Pushpin holds the streams,
           the publisher POSTs to Pushpin; the proxy's own RSS and threads are reported too
  stock    the stock django-eventstream view (DjangoModelStorage, EVENTSTREAM_REDIS) on
           /stock-events/ of the same uvicorn as `direct`, at --stock-connections streams
           authenticated by session cookie (the stock view knows no DRF tokens).
           The stock view holds a database connection per open stream; so that it cannot
           take the whole PostgreSQL server (shared with others) the server process logs
           in as a role capped at --stock-db-limit connections (0: no cap).
"""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.backends.signals import connection_created

from bench.data import capped_database_url, create_sessions, delete_sessions, ensure_tokens, ensure_users, require_full_stack
from bench.measure import Sampler, cpu_seconds, gc_pause_buckets, gc_pauses_between, pg_connections, raise_nofile, rss_mb, thread_count, tree_rss_mb, tree_threads
from bench.processes import start_pushpin, start_server
from bench.sse_clients import StreamLoad
from bench.tables import median, percentile, print_table
from devtools.processes import free_port
from notifications.sse import frames, grip, publishing

USER_PREFIX = "bench-stream-"
APP_NAME = "bench-streams"  # the benchmark's own database connections, left out of the count
CAPPED_ROLE = "bench_capped"
PATH_LABELS = {
    "direct": "direct (uvicorn)",
    "direct-nofreeze": "direct, no gc.freeze",
    "direct-acks": "direct, pages ack receipts",
    "direct-api-acks": "direct, acks through the API",
    "pushpin": "Pushpin (GRIP)",
    "stock": "stock django-eventstream",
}


def _tag_connection(sender, connection, **kwargs):
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET application_name = %s", [APP_NAME])


class Command(BaseCommand):
    help = "Hold many SSE streams open on one ASGI server and measure delivery at a steady event rate."

    def add_arguments(self, parser):
        parser.add_argument("--connections", default="1000,5000,10000", help="comma-separated stream counts")
        parser.add_argument("--rate", type=float, default=100, help="events per second while streams are open")
        parser.add_argument("--seconds", type=float, default=10, help="how long events are published")
        parser.add_argument("--runs", type=int, default=3, help="runs per size; medians are printed")
        parser.add_argument("--paths", default="direct,pushpin,stock", help="any of " + ", ".join(PATH_LABELS))
        parser.add_argument("--via-pushpin", action="store_true", help="only the Pushpin path (same as --paths pushpin)")
        parser.add_argument("--stock-connections", type=int, default=300, help="streams opened on the stock path")
        parser.add_argument("--stock-db-limit", type=int, default=50,
                            help="connection cap of the server's database role (0: connect as DATABASE_URL's user, uncapped)")
        parser.add_argument("--client-processes", type=int, default=2, help="processes holding the client streams")
        parser.add_argument("--connect-concurrency", type=int, default=200, help="streams being opened at once")
        parser.add_argument("--drain", type=float, default=3, help="seconds to wait for the last events")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **options):
        require_full_stack()
        sizes = sorted({int(s) for s in options["connections"].split(",") if s.strip()})
        paths = ["pushpin"] if options["via_pushpin"] else [p.strip() for p in options["paths"].split(",") if p.strip()]
        if not sizes or sizes[0] < 1 or set(paths) - set(PATH_LABELS):
            raise CommandError("--connections needs positive integers; --paths any of " + ", ".join(PATH_LABELS))
        self.options = options
        self.random = random.Random(options["seed"])
        limit = raise_nofile(max(65536, 3 * max(sizes + [options["stock_connections"]]) + 1000))
        self.stdout.write(f"Open files limit: {limit:,} (inherited by the server and Pushpin)")
        connection_created.connect(_tag_connection, dispatch_uid="bench_streams")
        connections.close_all()
        self.grip_url = settings.GRIP_URL
        settings.GRIP_URL = ""  # the direct and stock paths publish to Redis
        import django_grip  # noqa: F401 - created now, while GRIP_URL is empty: the stock send_event skips Pushpin

        if "pushpin" in paths:
            import shutil

            if shutil.which("pushpin") is None:
                self.stderr.write("pushpin is not installed (apt-get install -y pushpin): the Pushpin path is left out")
                paths.remove("pushpin")

        needed = max(sizes + ([options["stock_connections"]] if "stock" in paths else []))
        self.stdout.write(f"Preparing {needed:,} benchmark users with tokens ...")
        user_ids = ensure_users(USER_PREFIX, needed, self.stdout.write)
        self.tokens = ensure_tokens(user_ids)
        self.user_ids = user_ids

        results = []  # (path, size, [run dicts])
        try:
            for size in sizes:
                # Runs of the paths take turns, so a noisy minute of the machine hits them alike.
                by_path = {p: [] for p in paths if p != "stock"}
                for r in range(options["runs"]):
                    for path, runs in by_path.items():
                        runs.append(self._run(path, size, r))
                results.extend((path, size, runs) for path, runs in by_path.items())
            if "stock" in paths:
                size = options["stock_connections"]
                runs = [self._run("stock", size, r) for r in range(options["runs"])]
                results.append(("stock", size, runs))
        finally:
            settings.GRIP_URL = self.grip_url
        self._report(results)

    # --- one run -----------------------------------------------------------------------------

    def _server_env(self, path: str) -> dict:
        # As deployed (DEBUG off), on plain http.
        env = {"DEBUG": "false", "SECURE_SSL_REDIRECT": "0", "SECRET_KEY": settings.SECRET_KEY, "LOG_LEVEL": "WARNING", "GRIP_URL": ""}
        if path == "direct-nofreeze":
            env["STREAM_GC_FREEZE"] = "0"
        if path in ("direct", "direct-nofreeze", "direct-acks", "direct-api-acks", "stock"):
            env["BENCH_STOCK_EVENTSTREAM"] = "1"  # one server for both, as the issue compares them
            if self.options["stock_db_limit"] > 0:
                env["DATABASE_URL"] = capped_database_url(role=CAPPED_ROLE, limit=self.options["stock_db_limit"])
        return env

    def _run(self, path: str, size: int, run: int) -> dict:
        opts = self.options
        self.stdout.write(f"  {PATH_LABELS[path]}: {size:,} streams, run {run + 1} ...")
        ids = self.user_ids[:size]
        proxy = None
        proxy_warnings = {}
        sessions = {}
        sig_key = secrets.token_urlsafe(32)
        env = self._server_env(path)
        if path == "pushpin":
            port = free_port()
            proxy, base_url, control = start_pushpin(port, sig_key)
            env.update(GRIP_URL=control, GRIP_SIG_KEY=sig_key)
            server, _ = start_server(port=port, env=env)
            settings.GRIP_URL = control
        else:
            server, base_url = start_server(env=env)
        try:
            idle_rss = rss_mb(server.proc.pid)
            if path == "stock":
                sessions = create_sessions(ids)
                auths = [(uid, f"Cookie: {settings.SESSION_COOKIE_NAME}={sessions[uid]}") for uid in ids]
                url_path = "/stock-events/"
            else:
                auths = [(uid, f"Authorization: Token {self.tokens[uid]}") for uid in ids]
                url_path = "/events/"
            load = StreamLoad(
                base_url, url_path, auths, event="bench", key="seq", processes=opts["client_processes"],
                concurrency=opts["connect_concurrency"], timeout=60,
                ack={"direct-acks": "door", "direct-api-acks": "api"}.get(path),
            )
            cpu_before = cpu_seconds(server.proc.pid)
            connect_s = load.start(timeout=max(600, size / 10))
            open_cpu_ms = (cpu_seconds(server.proc.pid) - cpu_before) * 1000 / max(1, load.opened)
            client_cpu_ms = load.client_cpu_s * 1000 / max(1, load.opened)
            connected = load.opened_ids
            # Steady state: past the stock views' first reads and the GRIP catch-ups (one per stream, 2 s after it opened).
            time.sleep(1 + (grip.GRIP_CATCHUP_SECONDS if path == "pushpin" else 0))
            rss = rss_mb(server.proc.pid)
            threads = thread_count(server.proc.pid)
            proxy_rss = tree_rss_mb(proxy.proc.pid) if proxy else None
            proxy_threads = tree_threads(proxy.proc.pid) if proxy else None

            sent = {}
            gc_before = gc_pause_buckets(base_url) if path != "pushpin" else {}
            with Sampler(pg_connections, 0.25) as pg, Sampler(lambda: rss_mb(server.proc.pid), 0.5) as mem:
                sent = self._publish(path, connected, opts["rate"], opts["seconds"])
                time.sleep(opts["drain"])
            # The server moves pauses into /metrics once a second; the drain above covers that.
            gc_pauses = gc_pauses_between(gc_before, gc_pause_buckets(base_url)) if path != "pushpin" else {}
            receipts = load.stop()
        finally:
            server.stop()
            if proxy:
                proxy_warnings = self._proxy_warnings(proxy.output())
                proxy.stop()
                settings.GRIP_URL = ""
            if sessions:
                delete_sessions(sessions.values())
            if path == "stock":
                self._clear_stock_events()

        latencies, delivered, wrong = [], set(), 0
        for uid, seq, received_at in receipts:
            target = sent.get(seq)
            if target is None or target[0] != uid:
                wrong += 1
                continue
            if seq not in delivered:
                delivered.add(seq)
                latencies.append((received_at - target[1]) * 1000)
        result = {
            "size": size, "opened": load.opened, "failed": load.failed, "ended": load.ended, "alive": load.alive,
            "connect_s": connect_s, "open_cpu_ms": open_cpu_ms, "client_cpu_ms": client_cpu_ms, "idle_rss": idle_rss, "rss": max([rss, *mem.values]), "threads": threads,
            "proxy_rss": proxy_rss, "proxy_threads": proxy_threads, "proxy_warnings": proxy_warnings,
            "pg_max": max(pg.values, default=float("nan")), "pg_median": median(pg.values),
            "sent": len(sent), "delivered": len(delivered), "wrong": wrong,
            "p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "max": max(latencies, default=float("nan")),
            "acks": load.acks, "gc_pauses": gc_pauses,
        }
        failures = ", ".join(f"{k} x{v}" for k, v in sorted(result["failed"].items())) or "none"
        self.stdout.write(
            f"    open {result['opened']:,}/{size:,} in {connect_s:.1f}s, CPU per stream: server {open_cpu_ms:.2f} ms, clients {client_cpu_ms:.2f} ms "
            f"(failed: {failures}); "
            f"delivered {result['delivered']}/{result['sent']}; p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms; "
            f"PG max {result['pg_max']}; RSS {result['rss']:.0f} MB, {threads} threads"
            + (f"; acks {', '.join(f'{k} x{v}' for k, v in sorted(load.acks.items()))}" if load.acks else "")
        )
        return result

    def _report_runs(self, results) -> None:
        """Every run's tail beside the collector's pauses in its measured window (a pause is every stream's wait)."""
        rows = []
        for path, size, runs in results:
            if path == "pushpin":
                continue  # its /metrics is behind the proxy
            for i, r in enumerate(runs, 1):
                pauses = r["gc_pauses"]
                buckets = {gen: {le: n for le, n in p.items() if not isinstance(le, str)} for gen, p in pauses.items()}
                counted = lambda gen, at_least=0.0: sum(n for le, n in buckets.get(gen, {}).items() if le > at_least)  # noqa: E731
                longest = lambda gen: max((le for le, n in buckets.get(gen, {}).items() if n), default=0.0)  # noqa: E731
                rows.append([
                    PATH_LABELS[path], size, i, r["p99"], r["max"],
                    " / ".join(str(counted(gen)) for gen in ("0", "1", "2")),
                    sum(counted(gen, 0.01) for gen in buckets), sum(counted(gen, 0.1) for gen in buckets),
                    " / ".join(f"{longest(gen) * 1000:g}" if longest(gen) else "-" for gen in ("0", "1", "2")),
                    f"{pauses.get('0', {}).get('wall', 0.0) * 1000:.0f}",
                    " / ".join(f"{pauses.get(gen, {}).get(key, 0.0) * 1000:.0f}" for gen in ("1", "2") for key in ("wall", "cpu")),
                ])
        if rows:
            self.stdout.write(
                "Every run, with the server's garbage-collector pauses while the events flowed (python_gc_pause_seconds; "
                "a pause's wall time far above its CPU time is the machine not running the server):"
            )
            print_table(self.stdout.write, [
                "path", "streams", "run", "p99 ms", "max ms", "GC passes gen 0 / 1 / 2", "pauses > 10 ms", "> 100 ms",
                "longest pause <= ms, gen 0 / 1 / 2", "gen 0 pauses ms", "gen 1, gen 2 pauses ms (wall / CPU)",
            ], rows)

    @staticmethod
    def _proxy_warnings(log: str) -> dict[str, int]:
        """Pushpin's warnings and errors, and its 5xx answers to clients, counted by kind."""
        import re

        kinds = Counter()
        for line in log.splitlines():
            if line.startswith(("[WARN]", "[ERR]")):
                message = line.split("] ", 2)[-1] if line.count("] ") >= 2 else line
                kinds[re.sub(r"id=\S+|\d+", "#", message).strip()] += 1
            elif "[proxy]" in line and re.search(r" code=5\d\d", line):
                kinds["proxy answered " + re.search(r"code=(5\d\d)", line).group(1)] += 1
        return dict(kinds)

    def _publish(self, path: str, connected: list[int], rate: float, seconds: float) -> dict[int, tuple[int, float]]:
        """Steady rate: event i at start + i/rate, each to a random connected user. seq -> (user, publish time)."""
        sent = {}
        if not connected:
            return sent
        stock_send = self._stock_sender() if path == "stock" else None
        count = int(rate * seconds)
        start = time.perf_counter() + 0.05
        for seq in range(count):
            delay = start + seq / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            uid = self.random.choice(connected)
            published_at = time.time()
            data = {"seq": seq, "id": seq + 1, "ts": published_at}  # id: what a receipt acks
            try:
                if stock_send:
                    stock_send(f"user-{uid}", "bench", data)
                else:
                    publishing.publish([frames.StreamEvent(uid, "bench", data)])
            except Exception as exc:  # noqa: BLE001 - a failed publish is reported as not delivered
                self.stderr.write(f"    publish {seq} failed: {exc}")
                continue
            sent[seq] = (uid, published_at)
        return sent

    def _stock_sender(self):
        import redis
        from django_eventstream import eventstream

        settings.EVENTSTREAM_STORAGE_CLASS = "django_eventstream.storage.DjangoModelStorage"
        eventstream.redis_client = redis.Redis.from_url(settings.REDIS_URL)
        return eventstream.send_event

    def _clear_stock_events(self) -> None:
        from django_eventstream.models import Event, EventCounter

        Event.objects.filter(channel__startswith="user-").delete()
        EventCounter.objects.filter(name__startswith="user-").delete()

    # --- report ----------------------------------------------------------------------------------

    def _report(self, results) -> None:
        opts = self.options
        self.stdout.write("")
        self.stdout.write(
            f"Open streams, medians of {opts['runs']} runs; {opts['rate']:g} events/s for {opts['seconds']:g} s to random "
            f"connected users; clients in {opts['client_processes']} processes"
        )
        headers = [
            "path", "streams", "opened", "connect s", "server CPU ms/open", "client CPU ms/open", "server RSS MB", "KB/stream", "server threads",
            "proxy RSS MB", "proxy threads", "PG conns max", "delivered/sent", "p50 ms", "p99 ms",
        ]
        rows, notes = [], []
        for path, size, runs in results:
            med = lambda key: median(r[key] for r in runs)  # noqa: E731
            growth = median((r["rss"] - r["idle_rss"]) * 1024 / max(1, r["opened"]) for r in runs)
            rows.append([
                PATH_LABELS[path], size, f"{med('opened'):,.0f}", med("connect_s"), med("open_cpu_ms"), med("client_cpu_ms"), med("rss"), growth, med("threads"),
                med("proxy_rss") if path == "pushpin" else "-", med("proxy_threads") if path == "pushpin" else "-",
                med("pg_max"), f"{med('delivered'):,.0f}/{med('sent'):,.0f}", med("p50"), med("p99"),
            ])
            for i, r in enumerate(runs, 1):
                bad = {**{f"open: {k}": v for k, v in r["failed"].items()}, **{f"dropped: {k}": v for k, v in r["ended"].items()}}
                for kind, count in sorted(r.get("proxy_warnings", {}).items()):
                    notes.append(f"  {PATH_LABELS[path]} {size:,} run {i}: Pushpin logged {count} x {kind}")
                if bad or r["wrong"] or r["delivered"] < r["sent"]:
                    detail = ", ".join(f"{k} x{v}" for k, v in sorted(bad.items())) or "no stream failures"
                    notes.append(
                        f"  {PATH_LABELS[path]} {size:,} run {i}: {detail}; delivered {r['delivered']}/{r['sent']}"
                        + (f"; {r['wrong']} to a wrong user" if r["wrong"] else "")
                    )
        print_table(self.stdout.write, headers, rows)
        self._report_runs(results)
        if notes:
            self.stdout.write("Failures:")
            self.stdout.write("\n".join(notes))
        if opts["stock_db_limit"] > 0 and any(p == "stock" for p, _, _ in results):
            self.stdout.write(
                f"The direct/stock server logged in as role {CAPPED_ROLE} (CONNECTION LIMIT {opts['stock_db_limit']}); "
                "--stock-db-limit 0 lifts the cap."
            )
