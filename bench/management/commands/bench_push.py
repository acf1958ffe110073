"""Web Push throughput against a local push service started here (a process of its own).

    python manage.py bench_push --pushes 2000 --threads 1,8,32

Each push is a real push_send: JSON payload encrypted aes128gcm for its browser's keys (RFC 8291),
the cached VAPID header (RFC 8292), one POST over the process's pooled keep-alive session. The
push service answers 201 at once, so this measures the sender (encryption + HTTP), not a network.
"""

import os
import tempfile

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bench.push import browsers_on, push_throughput
from bench.tables import print_table
from devtools.push_service import start_push_service_process
from webpush.vapid import webpush_enabled


class Command(BaseCommand):
    help = "Pushes per second through push_send to a local push service, for several thread counts."

    def add_arguments(self, parser):
        parser.add_argument("--pushes", type=int, default=2000)
        parser.add_argument("--threads", default="1,8,32", help="comma-separated thread counts")
        parser.add_argument("--browsers", type=int, default=100, help="distinct subscriptions cycled through")

    def handle(self, *args, pushes, threads, browsers, **options):
        if not webpush_enabled():
            raise CommandError("Set VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY (manage.py webpush_vapid_keys), or run with DEBUG=1.")
        counts = [int(k) for k in threads.split(",") if k.strip()]
        settings.WEBPUSH_POOL_SIZE = max(settings.WEBPUSH_POOL_SIZE, *counts)
        with tempfile.TemporaryDirectory() as log_dir:
            process, origin = start_push_service_process(log_dir)
            try:
                subscriptions = browsers_on(origin, browsers)
                push_throughput(origin=origin, pushes=min(200, pushes), threads=max(counts), browsers=subscriptions)  # warm-up
                runs = [push_throughput(origin=origin, pushes=pushes, threads=k, browsers=subscriptions) for k in counts]
            finally:
                process.stop()
        load = os.getloadavg()
        self.stdout.write(f"Web Push: {pushes} pushes per run, {browsers} browsers, {os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print_table(
            self.stdout.write,
            ["threads", "pushes", "seconds", "pushes/s", "failed", "connections opened"],
            [[r.threads, r.pushes, r.seconds, r.per_second, r.failed, r.connections] for r in runs],
        )
