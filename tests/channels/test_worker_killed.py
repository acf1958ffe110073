"""A real Celery worker (over the test Redis) killed in the middle of an email batch: nothing lost,
and nothing sent twice beyond the one email it was on (SMTP has no idempotency key)."""

import signal
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from devtools.processes import free_port, wait_for
from devtools.smtp_server import SmtpServer
from notifications.models import ChannelDelivery, DeliveryState, Notification
from tests.integration.conftest import clean_redis, redis_client, service_env  # noqa: F401 (fixtures)
from tests.reliability.harness import Cleanup, django_script, start_worker
from tests.reliability.test_faults import report

pytestmark = pytest.mark.integration

EMAILS = 120


def pending_emails(count: int) -> list[int]:
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"mail{i}", email=f"mail{i}@example.com") for i in range(count)])
    notifications = Notification.objects.bulk_create(
        [Notification(recipient=u, notification_type="payment_received", title="Payment received", message="Paid.") for u in users]
    )
    now = timezone.now()
    rows = ChannelDelivery.objects.bulk_create(
        [ChannelDelivery(notification=n, channel="email", due_at=now, updated_at=now) for n in notifications]
    )
    return [row.pk for row in rows]


def dispatch(env) -> int:
    return django_script(env, "from notifications.channels.dispatching import channel_deliveries_dispatch_due\n"
                              "result = channel_deliveries_dispatch_due()\n")


def test_worker_sigkilled_mid_email_batch_then_new_worker_sends_every_email_duplicating_at_most_one(
    transactional_db, clean_redis, tmp_path
):
    # A worker killed by an earlier run left its messages unacknowledged: a new worker would restore them.
    clean_redis.delete("unacked", "unacked_index", "unacked_mutex")
    cleanup = Cleanup()
    smtp = SmtpServer(free_port())
    smtp.handler.delay = 0.05  # a batch of 40 takes about 2 s: time to strike inside it
    smtp.start()
    cleanup.add(smtp.stop)
    env = service_env(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1", EMAIL_PORT=smtp.port,
        CHANNEL_BATCH_SIZE=40,
    )
    try:
        ids = pending_emails(EMAILS)
        worker = start_worker(cleanup, tmp_path, env, name="mailer", concurrency=1)
        assert dispatch(env) == EMAILS

        wait_for(lambda: len(smtp.messages) >= 10, timeout=60, what="the first batch under way")
        worker.kill_group(signal.SIGKILL)
        accepted_before_kill = len(smtp.messages)
        states = dict(ChannelDelivery.objects.filter(pk__in=ids).values_list("pk", "state"))
        sending = [pk for pk, state in states.items() if state == DeliveryState.SENDING]
        assert len(sending) > 0, "the kill was meant to land inside a batch"
        sent_recorded = sum(1 for state in states.values() if state == DeliveryState.SENT)
        # Each accepted email was recorded at once, but for the one the worker was on.
        assert accepted_before_kill - sent_recorded in (0, 1)

        # The lease passes (CHANNEL_SENDING_LEASE_SECONDS, moved back here rather than waited for);
        # the beat hands out the dead worker's rows and the unsent ones again; a new worker sends them.
        ChannelDelivery.objects.filter(pk__in=ids).exclude(state=DeliveryState.SENT).update(
            updated_at=timezone.now() - timedelta(hours=1), due_at=timezone.now() - timedelta(seconds=1)
        )
        start_worker(cleanup, tmp_path, env, name="mailer2", concurrency=1)
        # (The batch still queued in Redis may be taken by the new worker first: whatever is left is handed out.)
        dispatch(env)
        wait_for(
            lambda: ChannelDelivery.objects.filter(pk__in=ids, state=DeliveryState.SENT).count() == EMAILS,
            timeout=120, interval=0.2, what="every email sent",
        )
        received = [m["To"] for m in smtp.messages]
        duplicates = len(received) - len(set(received))
        assert set(received) == {f"mail{i}@example.com" for i in range(EMAILS)}, "an email was lost"
        assert duplicates <= 1
        report("worker killed mid email batch", emails=EMAILS, accepted_before_kill=accepted_before_kill,
               lost=0, duplicates=duplicates)
    finally:
        cleanup.run()
