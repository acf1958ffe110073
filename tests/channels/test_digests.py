"""Digest windows on email, through a real SMTP server, under a stopped clock (time-machine).

The first bid email of a job goes at once and opens a 10-minute window; bids in the window
are held and go as one digest when it ends; the window restarts when a digest goes out; a
window that ends with nothing held closes. Stale members (read, seen, retracted) never go.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from jobs import services as job_services
from notifications.channels import digests, dispatching, holds
from notifications.models import ChannelDelivery, ChannelDigest, DigestTemplate
from tests.channels.test_email import header, run_beat
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory

pytestmark = pytest.mark.django_db

WINDOW = timedelta(seconds=600)


@pytest.fixture
def job(settings):
    # The bid email's 10-minute delay off: the window alone decides (the delay is covered in test_email).
    settings.CHANNEL_FALLBACK_SECONDS = 0
    return CleaningJobFactory(client=ClientFactory(email="cora@example.com"), title="Spring clean")


def bid(run, job, amount):
    return run(job_services.bid_place, job=job, cleaner=CleanerFactory(first_name=f"Cleaner{amount}"), amount=Decimal(amount))


def emails_of(job):
    return ChannelDelivery.objects.filter(channel="email", notification__job=job, notification__notification_type="bid_received").order_by("pk")


def subjects(smtp):
    return [header(message, "Subject") for message in smtp.messages]


def test_the_first_goes_at_once_the_rest_of_the_window_as_one_digest_then_the_window_restarts(smtp, run, job):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        start = timezone.now()
        bid(run, job, "95")
        assert subjects(smtp) == ["New bid on Spring clean"]

        clock.shift(timedelta(minutes=1))
        bid(run, job, "100")
        clock.shift(timedelta(minutes=1))
        bid(run, job, "120")
        run_beat()
        assert len(smtp.messages) == 1
        assert [d.state for d in emails_of(job)] == ["sent", "held", "held"]

        clock.move_to(start + WINDOW - timedelta(seconds=1))
        run_beat()
        assert len(smtp.messages) == 1

        clock.move_to(start + WINDOW + timedelta(seconds=1))
        run_beat()
        assert subjects(smtp) == ["New bid on Spring clean", "2 new bids on Spring clean"]
        digest_email = smtp.messages[1]
        text, html = digest_email.get_body(("plain",)).get_content(), digest_email.get_body(("html",)).get_content()
        assert "offers €100.00" in text and "offers €120.00" in text and "offers €95.00" not in text
        assert "offers €120.00" in html and f'href="https://spotless.example/jobs/{job.pk}/' in html
        assert digest_email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "/notifications/unsubscribe/" in header(digest_email, "List-Unsubscribe")
        assert [d.state for d in emails_of(job)] == ["sent", "digested", "digested"]
        sent = ChannelDigest.objects.get(state="sent")
        assert (sent.member_count, sent.attempts, sent.batch_key) == (2, 1, f"bids:job:{job.pk}")

        # The digest restarted the window: a bid a minute later is held until 10 minutes after the digest.
        digest_at = timezone.now()
        clock.shift(timedelta(minutes=1))
        bid(run, job, "130")
        run_beat()
        assert len(smtp.messages) == 2
        clock.move_to(digest_at + WINDOW + timedelta(seconds=1))
        run_beat()
        # One member left: it goes as its own email, not as "1 new bids".
        assert subjects(smtp)[-1] == "New bid on Spring clean"
        assert "offers €130.00" in smtp.messages[-1].get_body(("plain",)).get_content()

        # That digest restarted the window again; it ends with nothing held and closes ...
        clock.shift(WINDOW + timedelta(seconds=1))
        run_beat()
        assert not ChannelDigest.objects.filter(state="open").exists()
        # ... so the next bid goes at once.
        bid(run, job, "140")
        assert len(smtp.messages) == 4
        assert "offers €140.00" in smtp.messages[-1].get_body(("plain",)).get_content()


def test_digest_window_seconds_overrides_every_window(smtp, run, job, settings):
    settings.DIGEST_WINDOW_SECONDS = 5
    with time_machine.travel(timezone.now(), tick=False) as clock:
        bid(run, job, "95")
        bid(run, job, "100")
        bid(run, job, "110")
        assert ChannelDigest.objects.get(state="open").window_ends_at == timezone.now() + timedelta(seconds=5)
        clock.shift(timedelta(seconds=6))
        run_beat()
    assert subjects(smtp) == ["New bid on Spring clean", "2 new bids on Spring clean"]


def _read(notification):
    notification.is_read, notification.read_at = True, timezone.now()
    notification.save(update_fields=["is_read", "read_at"])


def _seen(notification):
    notification.seen_at = timezone.now()
    notification.save(update_fields=["seen_at"])


def _expired(notification):
    notification.expired_at = timezone.now()
    notification.save(update_fields=["expired_at"])


def test_a_digest_leaves_out_what_was_read_seen_or_retracted_before_it_went(smtp, run, job):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        bid(run, job, "95")
        for amount in ("100", "110", "120", "130"):
            bid(run, job, amount)
        first, read, seen, retracted, live = emails_of(job)
        _read(read.notification)
        _seen(seen.notification)
        _expired(retracted.notification)
        bid(run, job, "140")
        clock.shift(WINDOW + timedelta(seconds=1))
        run_beat()

    assert subjects(smtp) == ["New bid on Spring clean", "2 new bids on Spring clean"]
    text = smtp.messages[1].get_body(("plain",)).get_content()
    assert "€130.00" in text and "€140.00" in text
    assert not any(amount in text for amount in ("€100.00", "€110.00", "€120.00"))
    states = {d.pk: (d.state, d.cancel_reason) for d in emails_of(job)}
    assert states[read.pk] == ("cancelled", "read in the app")
    assert states[seen.pk] == ("cancelled", "seen in the app")
    assert states[retracted.pk] == ("cancelled", "expired")
    assert states[live.pk] == ("digested", "")


def test_a_digest_whose_members_all_went_stale_is_cancelled_and_its_window_closes(smtp, run, job):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        bid(run, job, "95")
        bid(run, job, "100")
        bid(run, job, "110")
        for delivery in emails_of(job)[1:]:
            _read(delivery.notification)
        clock.shift(WINDOW + timedelta(seconds=1))
        run_beat()
        assert len(smtp.messages) == 1
        digest = ChannelDigest.objects.get()
        assert (digest.state, digest.cancel_reason) == ("cancelled", "nothing left to send: every member went stale")
        # Nothing went out, so no window restarted: the next bid goes at once.
        bid(run, job, "120")
    assert len(smtp.messages) == 2


def test_messages_batch_per_thread_and_bids_per_job(smtp, run, job):
    client = job.client
    other_job = CleaningJobFactory(client=client, title="Windows")
    ann, ben = CleanerFactory(first_name="Ann"), CleanerFactory(first_name="Ben")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        run(job_services.bid_place, job=job, cleaner=ann, amount=Decimal("90"))
        run(job_services.bid_place, job=job, cleaner=ben, amount=Decimal("80"))  # held: the job's window
        for sender, body in ((ann, "Hi"), (ann, "Ladder?"), (ben, "Hello"), (ann, "Vacuum?")):
            run(job_services.message_send, job=job, sender=sender, recipient=client, body=body)
        bid(run, other_job, "70")
        assert subjects(smtp) == ["New bid on Spring clean", "New message from Ann", "New message from Ben", "New bid on Windows"]
        clock.shift(timedelta(seconds=901))
        run_beat()
    # Ben's bid, alone in its window, goes as itself; Ann's two held messages as one digest.
    assert sorted(subjects(smtp)[4:]) == ["2 new messages from Ann about Spring clean", "New bid on Spring clean"]
    assert len(smtp.messages) == 6


# --- exactly once --------------------------------------------------------------------


def held_digest(run, job, clock):
    bid(run, job, "95")
    bid(run, job, "100")
    bid(run, job, "110")
    clock.shift(WINDOW + timedelta(seconds=1))
    return ChannelDigest.objects.get(state="open")


def test_a_digest_is_sent_once_however_often_its_task_runs(smtp, run, job):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        digest = held_digest(run, job, clock)
        digests.channel_digests_send(digest_ids=[digest.pk])
        digests.channel_digests_send(digest_ids=[digest.pk])
        run_beat()
        run_beat()
    assert subjects(smtp) == ["New bid on Spring clean", "2 new bids on Spring clean"]
    digest.refresh_from_db()
    assert (digest.state, digest.attempts) == ("sent", 1)


def test_a_digest_is_not_claimed_before_its_window_ends(smtp, run, job):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        bid(run, job, "95")
        bid(run, job, "100")
        digest = ChannelDigest.objects.get(state="open")
        assert digests.channel_digests_send(digest_ids=[digest.pk]) == {}
        clock.shift(WINDOW - timedelta(seconds=1))
        assert digests.channel_digests_send(digest_ids=[digest.pk]) == {}
    assert len(smtp.messages) == 1


def test_a_digest_left_sending_by_a_dead_worker_is_sent_after_the_lease(smtp, run, job, settings):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        digest = held_digest(run, job, clock)
        # What a worker killed after its claim leaves: the digest `sending`, the next window open.
        claimed = digests._claim([digest.pk])
        assert [d.pk for d, _ in claimed] == [digest.pk]
        run_beat()
        assert len(smtp.messages) == 1  # within the lease: the worker may still be sending it

        clock.shift(timedelta(seconds=settings.CHANNEL_SENDING_LEASE_SECONDS + 1))
        run_beat()
        run_beat()
    assert subjects(smtp) == ["New bid on Spring clean", "2 new bids on Spring clean"]
    digest.refresh_from_db()
    assert (digest.state, digest.attempts) == ("sent", 2)
    assert [d.state for d in emails_of(job)] == ["sent", "digested", "digested"]


def test_smtp_down_keeps_the_digest_and_its_members_for_a_retry(smtp, run, job):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        digest = held_digest(run, job, clock)
        smtp.stop()
        run_beat()
        digest.refresh_from_db()
        assert (digest.state, digest.attempts) == ("pending", 1)
        assert [d.state for d in emails_of(job)][1:] == ["held", "held"]
        smtp.start()
        clock.shift(timedelta(hours=1))
        run_beat()
    digest.refresh_from_db()
    assert (digest.state, digest.attempts) == ("sent", 2)
    assert subjects(smtp)[-1] == "2 new bids on Spring clean"


# --- the digest template -----------------------------------------------------------


def test_the_admins_digest_template_words_the_digest(smtp, run, job):
    DigestTemplate.objects.create(
        kind="bid_received",
        email_subject_template="{{ job_title }}: {{ count }} offers",
        email_body_template="{% for item in items %}{{ forloop.counter }}. {{ item.message|upper }}\n{% endfor %}",
        push_title_template="{{ count }} offers",
        push_body_template="{{ job_title }}",
    )
    with time_machine.travel(timezone.now(), tick=False) as clock:
        held_digest(run, job, clock)
        run_beat()
    assert subjects(smtp)[-1] == "Spring clean: 2 offers"
    text = smtp.messages[-1].get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("1. CLEANER100 OFFERS €100.00.\n2. CLEANER110 OFFERS €110.00.\n")


@pytest.mark.django_db(transaction=True)
def test_two_claims_racing_on_a_new_batch_send_one_at_once_and_hold_the_other(smtp, settings, monkeypatch):
    """Both claims find no window and both INSERT one: the unique index makes the second wait and do
    nothing, then it finds the first one's window and holds its delivery."""
    import threading

    from django.db import connection

    settings.CHANNEL_FALLBACK_SECONDS = 0
    client = ClientFactory(email="cora@example.com")
    job = CleaningJobFactory(client=client, title="Spring clean")
    monkeypatch.setattr(dispatching, "dispatch_due_soon", lambda: None)  # the claims below are the test's
    for amount in ("95", "100"):
        job_services.bid_place(job=job, cleaner=CleanerFactory(), amount=Decimal(amount))
    first, second = emails_of(job)
    ChannelDelivery.objects.filter(pk__in=[first.pk, second.pk]).update(due_at=timezone.now())

    both_looked = threading.Barrier(2, timeout=10)
    real_lock_open = holds._lock_open
    looked = threading.local()

    def lock_open_then_wait(batches):
        found = real_lock_open(batches)
        if not getattr(looked, "done", False):  # each claim's first look: both see no window
            looked.done = True
            both_looked.wait()
        return found

    monkeypatch.setattr(holds, "_lock_open", lock_open_then_wait)
    outcomes = {}

    def claim(delivery):
        try:
            outcomes[delivery.pk] = dispatching.channel_deliveries_send(delivery_ids=[delivery.pk])
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(delivery,)) for delivery in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(sum(outcome.values()) for outcome in outcomes.values()) == [0, 1]  # one sent, one held
    assert sorted(d.state for d in emails_of(job)) == ["held", "sent"]
    assert ChannelDigest.objects.filter(state="open").count() == 1
    assert len(smtp.messages) == 1
