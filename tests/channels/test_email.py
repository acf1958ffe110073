"""Email through a real SMTP server (aiosmtpd): the message, its one-click unsubscribe, timing and faults."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from jobs import services as job_services
from notifications.catalog import NotificationType
from notifications.channels import dispatching
from notifications.models import ChannelDelivery, NotificationChannelPreference
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory

pytestmark = pytest.mark.django_db


def header(message, name) -> str:
    """A header as a mail client reads it: unfolded (a long one comes folded onto a second line)."""
    return " ".join(str(message[name]).split())


def email_of(notification_type):
    return ChannelDelivery.objects.get(channel="email", notification__notification_type=notification_type)


def test_a_bid_accepted_email_arrives_with_both_parts_a_link_and_one_click_unsubscribe(smtp, run):
    client, cleaner = ClientFactory(first_name="Cora"), CleanerFactory(email="ben@example.com")
    job = CleaningJobFactory(client=client, title="Attic clean")
    bid = run(job_services.bid_place, job=job, cleaner=cleaner, amount=Decimal("95"))

    run(job_services.bid_accept, bid=bid, client=client)

    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"] == "ben@example.com"
    assert header(message, "Subject") == "Your bid was accepted"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(r"<(https://spotless\.example/notifications/unsubscribe/[^>]+/)>", header(message, "List-Unsubscribe"))
    assert unsubscribe, message["List-Unsubscribe"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Cora accepted your bid of €95.00 for Attic clean" in text
    assert f"https://spotless.example/jobs/{job.pk}/" in text
    assert "Cora accepted your bid of €95.00 for Attic clean" in html
    assert f'href="https://spotless.example/jobs/{job.pk}/' in html
    delivery = email_of(NotificationType.BID_ACCEPTED)
    assert (delivery.state, delivery.attempts, delivery.provider_response) == ("sent", 1, "accepted by the mail server")

    # The mail client's one-click POST: no session, no CSRF token.
    path = unsubscribe.group(1).removeprefix("https://spotless.example")
    response = Client(enforce_csrf_checks=True).post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    assert NotificationChannelPreference.objects.get(user=cleaner, notification_type="bid_accepted", channel="email").is_enabled is False

    # The next acceptance for this cleaner sends no email (and records why).
    other_job = CleaningJobFactory(client=client)
    other_bid = run(job_services.bid_place, job=other_job, cleaner=cleaner, amount=Decimal("90"))
    run(job_services.bid_accept, bid=other_bid, client=client)
    assert len(smtp.messages) == 1
    suppressed = ChannelDelivery.objects.get(channel="email", notification__job=other_job, notification__notification_type="bid_accepted")
    assert (suppressed.state, suppressed.cancel_reason) == ("suppressed", "channel turned off")


def test_the_unsubscribe_link_asks_first_on_get_and_refuses_a_forged_token(smtp, run):
    from notifications.channels.unsubscribe import unsubscribe_url

    cleaner = CleanerFactory()
    url = unsubscribe_url(user_id=cleaner.pk, notification_type="payment_received", channel="email")
    path = url.removeprefix("https://spotless.example")
    page = Client().get(path)
    assert page.status_code == 200
    assert "Stop these emails?" in page.content.decode()
    assert not NotificationChannelPreference.objects.exists()

    forged = path.replace(cleaner.pk.__str__(), "1", 1)[:-3] + "xx/"
    response = Client().post(forged)
    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    assert Client().post("/notifications/unsubscribe/not-a-token/").status_code == 400
    assert not NotificationChannelPreference.objects.exists()


def test_bid_received_email_waits_ten_minutes_and_goes_if_still_unseen(smtp, bid_on_a_job):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client, cleaner, job, bid = bid_on_a_job()
        delivery = email_of(NotificationType.BID_RECEIVED)
        assert delivery.state == "pending"
        assert delivery.due_at == timezone.now() + timedelta(seconds=600)

        clock.shift(timedelta(seconds=599))
        run_beat()
        assert smtp.messages == []

        clock.shift(timedelta(seconds=2))
        run_beat()
        assert [m["To"] for m in smtp.messages] == [client.email]
        assert email_of(NotificationType.BID_RECEIVED).state == "sent"


def test_channel_fallback_seconds_overrides_the_catalog_delay(smtp, bid_on_a_job, settings):
    settings.CHANNEL_FALLBACK_SECONDS = 5
    with time_machine.travel(timezone.now(), tick=False):
        bid_on_a_job()
        assert email_of(NotificationType.BID_RECEIVED).due_at == timezone.now() + timedelta(seconds=5)


def run_beat():
    """The beat's task, with the send tasks it enqueues run in-process (no broker in these tests)."""
    from django.db import connection

    callbacks_before = len(connection.run_on_commit)
    dispatching.channel_deliveries_dispatch_due()
    # In a test transaction on_commit never fires: run what the dispatch scheduled.
    for _, callback, _ in connection.run_on_commit[callbacks_before:]:
        callback()
    del connection.run_on_commit[callbacks_before:]


def make_due(delivery):
    ChannelDelivery.objects.filter(pk=delivery.pk).update(due_at=timezone.now() - timedelta(seconds=1))


# --- cancellation --------------------------------------------------------------


def _seen(notification):
    notification.seen_at = timezone.now()
    notification.save(update_fields=["seen_at"])


def _read(notification):
    notification.is_read, notification.read_at = True, timezone.now()
    notification.save(update_fields=["is_read", "read_at"])


def _expired(notification):
    notification.expired_at = timezone.now()
    notification.save(update_fields=["expired_at"])


def _email_off(notification):
    NotificationChannelPreference.objects.create(user=notification.recipient, notification_type=notification.notification_type, channel="email", is_enabled=False)


def _deactivated(notification):
    notification.recipient.is_active = False
    notification.recipient.save(update_fields=["is_active"])


@pytest.mark.parametrize(
    "change, reason",
    [
        (_seen, "seen in the app"),
        (_read, "read in the app"),
        (_expired, "expired"),
        (_email_off, "channel turned off"),
        (_deactivated, "user inactive"),
    ],
)
def test_a_pending_email_is_cancelled_not_sent_when_it_became_stale(smtp, bid_on_a_job, change, reason):
    bid_on_a_job()
    delivery = email_of(NotificationType.BID_RECEIVED)
    change(delivery.notification)
    make_due(delivery)

    run_beat()

    delivery.refresh_from_db()
    assert (delivery.state, delivery.cancel_reason, delivery.attempts) == ("cancelled", reason, 0)
    assert smtp.messages == []


def test_a_message_email_waits_for_reading_not_for_a_glimpse(smtp, run, bid_on_a_job):
    client, cleaner, job, bid = bid_on_a_job()
    run(job_services.message_send, job=job, sender=client, recipient=cleaner, body="Do you bring a ladder?")
    delivery = email_of(NotificationType.MESSAGE_RECEIVED)
    assert delivery.due_at > timezone.now() + timedelta(seconds=890)
    _seen(delivery.notification)
    make_due(delivery)

    run_beat()

    assert email_of(NotificationType.MESSAGE_RECEIVED).state == "sent"
    assert "Do you bring a ladder?" in smtp.messages[0].get_body(("plain",)).get_content()


# --- faults ----------------------------------------------------------------------


def test_smtp_down_keeps_the_email_pending_and_sends_it_once_when_back(smtp, bid_on_a_job):
    smtp.stop()
    bid_on_a_job()
    delivery = email_of(NotificationType.BID_RECEIVED)
    make_due(delivery)

    run_beat()

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert delivery.provider_response.startswith("cannot connect: ConnectionRefusedError")
    assert delivery.due_at > timezone.now()

    smtp.start()
    make_due(delivery)
    run_beat()
    run_beat()

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("sent", 2)
    assert len(smtp.messages) == 1


def test_a_4xx_answer_retries_later_and_a_5xx_fails_at_once(smtp, bid_on_a_job):
    bid_on_a_job()
    delivery = email_of(NotificationType.BID_RECEIVED)
    smtp.handler.answer = "451 4.3.0 Try again later"
    make_due(delivery)
    run_beat()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.provider_response) == ("pending", 1, "451 4.3.0 Try again later")

    smtp.handler.answer = "550 5.1.1 No such mailbox"
    make_due(delivery)
    run_beat()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.provider_response) == ("failed", 2, "550 5.1.1 No such mailbox")
    assert smtp.messages == []


def test_retries_stop_at_the_last_attempt_with_the_servers_answer(smtp, bid_on_a_job, settings):
    settings.CHANNEL_MAX_ATTEMPTS = 3
    smtp.handler.answer = "421 4.7.0 Too busy"
    bid_on_a_job()
    delivery = email_of(NotificationType.BID_RECEIVED)
    for _ in range(3):
        make_due(delivery)
        run_beat()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.provider_response) == ("failed", 3, "421 4.7.0 Too busy")


def test_a_delivery_is_sent_once_however_often_its_task_runs(smtp, bid_on_a_job):
    from prometheus_client import REGISTRY

    def sent_metric():
        return REGISTRY.get_sample_value("notification_channel_deliveries_total", {"channel": "email", "state": "sent"}) or 0

    bid_on_a_job()
    delivery = email_of(NotificationType.BID_RECEIVED)
    make_due(delivery)
    sent_before = sent_metric()

    dispatching.channel_deliveries_send(delivery_ids=[delivery.pk])
    dispatching.channel_deliveries_send(delivery_ids=[delivery.pk])
    run_beat()

    assert len(smtp.messages) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("sent", 1)
    assert sent_metric() == sent_before + 1


def test_a_row_left_sending_by_a_dead_worker_is_sent_after_the_lease(smtp, bid_on_a_job, settings):
    bid_on_a_job()
    delivery = email_of(NotificationType.BID_RECEIVED)
    # What a worker killed after its claim leaves behind.
    ChannelDelivery.objects.filter(pk=delivery.pk).update(state="sending", attempts=1, updated_at=timezone.now())
    make_due(delivery)
    run_beat()
    assert smtp.messages == []  # within the lease: the worker may still be sending it

    ChannelDelivery.objects.filter(pk=delivery.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.CHANNEL_SENDING_LEASE_SECONDS + 1)
    )
    run_beat()
    run_beat()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("sent", 2)
    assert len(smtp.messages) == 1


# --- the DB template's email fields ------------------------------------------------


def test_the_active_templates_email_fields_word_the_email(smtp, bid_on_a_job):
    from notifications.models import NotificationTemplate

    NotificationTemplate.objects.filter(notification_type="bid_received", is_active=True).update(
        email_subject_template="{{ cleaner_name }} bids {{ bid_amount }} on {{ job_title }}",
        email_body_template="{% if bid_amount %}Offer: {{ bid_amount }}{% endif %} for {{ job_city }}.",
    )
    client, cleaner, job, bid = bid_on_a_job()
    make_due(email_of(NotificationType.BID_RECEIVED))

    run_beat()

    message = smtp.messages[0]
    assert header(message, "Subject") == f"{cleaner.first_name} bids €95.00 on {job.title}"
    assert message.get_body(("plain",)).get_content().startswith("Offer: €95.00 for Amsterdam.")


def test_the_admin_form_refuses_an_unsafe_email_template_and_previews_a_good_one():
    from notifications.forms import NotificationTemplateForm
    from notifications.rendering import email_preview

    base = {"name": "Bids, v2", "notification_type": "bid_received", "is_active": False, "default_priority": "medium",
            "title_template": "New bid", "message_template": "{{ cleaner_name }}"}
    form = NotificationTemplateForm(data=base | {"email_subject_template": "{{ password }}", "email_body_template": "{% load static %}"})
    assert not form.is_valid()
    assert "email_subject_template" in form.errors and "email_body_template" in form.errors

    assert NotificationTemplateForm(data=base | {"email_subject_template": "", "email_body_template": ""}).is_valid()
    preview = email_preview(notification_type="bid_received", email_subject_template="{{ cleaner_name }} bid", email_body_template="")
    assert (preview.subject, preview.body) == ("Ben bid", "Ben offers €110.00.")
