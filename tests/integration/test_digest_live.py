"""A digest email leaves after its window with real parts: Celery beat and a worker over Redis,
PostgreSQL, and an SMTP server; a 3-second window (DIGEST_WINDOW_SECONDS) instead of 10 minutes."""

from decimal import Decimal

import pytest

from devtools import processes
from devtools.processes import free_port, wait_for
from devtools.smtp_server import SmtpServer
from jobs import services as job_services
from notifications.models import ChannelDelivery, ChannelDigest
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory
from tests.integration.conftest import service_env

pytestmark = pytest.mark.integration

WINDOW_SECONDS = 3


def test_a_digest_email_goes_out_after_its_window_through_a_real_beat_and_worker(transactional_db, clean_redis, tmp_path, settings):
    smtp = SmtpServer(free_port())
    smtp.start()
    mail = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": smtp.port,
        # The bid email's 10-minute delay off: the window alone holds.
        "CHANNEL_FALLBACK_SECONDS": 0, "DIGEST_WINDOW_SECONDS": WINDOW_SECONDS,
    }
    for name, value in mail.items():  # this process claims the at-once email (its tasks run eagerly)
        setattr(settings, name, value)
    env = service_env(**mail)
    started = []
    try:
        started.append(processes.start_worker(tmp_path, env, name="digest-worker"))
        started.append(processes.start_beat(tmp_path, env, name="digest-beat"))
        job = CleaningJobFactory(client=ClientFactory(email="cora@example.com"), title="Attic clean")
        for amount in ("95", "100", "120"):
            job_services.bid_place(job=job, cleaner=CleanerFactory(), amount=Decimal(amount))

        wait_for(lambda: len(smtp.messages) >= 1, timeout=15, what="the first bid's email, at once")
        emails = ChannelDelivery.objects.filter(channel="email", notification__job=job).order_by("pk")
        assert [d.state for d in emails] == ["sent", "held", "held"]

        wait_for(lambda: len(smtp.messages) >= 2, timeout=WINDOW_SECONDS + 30, what="the digest, sent by the worker the beat handed it to")
        assert [" ".join(str(m["Subject"]).split()) for m in smtp.messages] == ["New bid on Attic clean", "2 new bids on Attic clean"]
        text = smtp.messages[1].get_body(("plain",)).get_content()
        assert "€100.00" in text and "€120.00" in text
        # Recorded right after the server's acceptance.
        wait_for(lambda: ChannelDigest.objects.filter(state="sent").exists(), timeout=10, what="the digest recorded sent")
        digest = ChannelDigest.objects.get(state="sent")
        assert digest.sent_at >= digest.window_ends_at
        assert [d.state for d in emails.all()] == ["sent", "digested", "digested"]
        assert "notifications.channel_digests_send" in started[0].output()
        assert "notifications.channel_deliveries_dispatch_due" in started[1].output()
    finally:
        for process in reversed(started):
            process.stop()
        smtp.stop()
