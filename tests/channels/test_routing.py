"""Which delivery rows a fan-out makes: per the catalog's policy, the recipients' channels and where they can be reached."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from jobs import services as job_services
from notifications.catalog import CATALOG, Channel, NotificationType
from notifications.channels import dispatching
from notifications.models import ChannelDelivery, NotificationChannelPreference, NotificationPreference
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory
from webpush.models import PushSubscription

pytestmark = pytest.mark.django_db


def subscribe(user, n=0):
    return PushSubscription.objects.create(
        user=user, endpoint=f"https://push.example/{user.pk}/{n}", p256dh="B" * 87, auth="A" * 22
    )


def rows(notification_type):
    return {
        (d.notification.recipient_id, d.channel): d
        for d in ChannelDelivery.objects.filter(notification__notification_type=notification_type).select_related("notification")
    }


def post_job(run, client):
    return run(
        job_services.job_create, client=client, title="Spring clean", service_type="standard", address="Damrak 1",
        city="Amsterdam", latitude=52.3676, longitude=4.9041, scheduled_start=timezone.now() + timedelta(days=3),
        duration_hours=Decimal("3"), budget=Decimal("120"),
    )


def test_the_catalog_defaults_of_the_issue():
    def policy(t):
        return {(r.channel, r.delay_seconds, r.condition) for r in CATALOG[t].channels}

    assert policy(NotificationType.JOB_CREATED) == {("push", None, "unseen")}
    assert policy(NotificationType.BID_RECEIVED) == {("push", None, "unseen"), ("email", 600, "unseen")}
    assert policy(NotificationType.MESSAGE_RECEIVED) == {("push", None, "unseen"), ("email", 900, "unread")}
    for t in (NotificationType.PAYMENT_RECEIVED, NotificationType.JOB_CANCELLED, NotificationType.BID_ACCEPTED):
        assert policy(t) == {("push", None, "unseen"), ("email", None, "unseen")}
    assert CATALOG[NotificationType.SYSTEM_ALERT].channels == ()


def test_a_job_offer_is_pushed_only_to_subscribed_cleaners_who_kept_push_on(run, monkeypatch):
    # The push wire is the push helper's; here the send is stopped at the claim (nothing is pushed).
    monkeypatch.setattr(dispatching, "channel_deliveries_dispatch_due", lambda **kwargs: 0)
    subscribed, twice, unsubscribed, push_off = (CleanerFactory() for _ in range(4))
    subscribe(subscribed)
    subscribe(twice), subscribe(twice, 1)
    subscribe(push_off)
    NotificationChannelPreference.objects.create(user=push_off, notification_type="job_created", channel="push", is_enabled=False)

    post_job(run, ClientFactory())

    made = rows(NotificationType.JOB_CREATED)
    # One row per notification and channel, however many browsers; none for the unsubscribed;
    # a fan-out records nobody who turned push off (no suppressed rows for a crowd).
    assert set(made) == {(subscribed.pk, "push"), (twice.pk, "push")}
    assert {d.state for d in made.values()} == {"pending"}
    assert all(d.due_at <= timezone.now() for d in made.values())


def test_a_bid_makes_an_at_once_push_and_a_delayed_email_for_the_client(run, monkeypatch):
    monkeypatch.setattr(dispatching, "channel_deliveries_dispatch_due", lambda **kwargs: 0)
    client, cleaner = ClientFactory(), CleanerFactory()
    subscribe(client)
    job = CleaningJobFactory(client=client)
    with time_machine.travel(timezone.now(), tick=False):
        run(job_services.bid_place, job=job, cleaner=cleaner, amount=Decimal("80"))
        made = rows(NotificationType.BID_RECEIVED)
        assert made[(client.pk, "push")].due_at == timezone.now()
        assert made[(client.pk, "email")].due_at == timezone.now() + timedelta(seconds=600)
    assert set(made) == {(client.pk, "push"), (client.pk, "email")}


def test_no_email_row_without_an_address_and_a_suppressed_row_for_one_turned_off(run, monkeypatch):
    monkeypatch.setattr(dispatching, "channel_deliveries_dispatch_due", lambda **kwargs: 0)
    no_address, turned_off = ClientFactory(email=""), ClientFactory()
    NotificationChannelPreference.objects.create(user=turned_off, notification_type="bid_received", channel="email", is_enabled=False)
    for client in (no_address, turned_off):
        run(job_services.bid_place, job=CleaningJobFactory(client=client), cleaner=CleanerFactory(), amount=Decimal("80"))

    made = rows(NotificationType.BID_RECEIVED)
    assert set(made) == {(turned_off.pk, "email")}
    assert (made[(turned_off.pk, "email")].state, made[(turned_off.pk, "email")].cancel_reason) == ("suppressed", "channel turned off")


def test_muting_a_type_in_the_app_stops_its_email_and_push_too(run, monkeypatch):
    monkeypatch.setattr(dispatching, "channel_deliveries_dispatch_due", lambda **kwargs: 0)
    client = ClientFactory()
    subscribe(client)
    NotificationPreference.objects.create(user=client, notification_type="bid_received", is_muted=True)
    run(job_services.bid_place, job=CleaningJobFactory(client=client), cleaner=CleanerFactory(), amount=Decimal("80"))
    assert rows(NotificationType.BID_RECEIVED) == {}


def test_a_repeated_chunk_makes_no_second_row(run, monkeypatch):
    from notifications.channels.routing import deliveries_create_for_chunk
    from notifications.models import Notification

    monkeypatch.setattr(dispatching, "channel_deliveries_dispatch_due", lambda **kwargs: 0)
    client = ClientFactory()
    subscribe(client)
    run(job_services.bid_place, job=CleaningJobFactory(client=client), cleaner=CleanerFactory(), amount=Decimal("80"))
    notification = Notification.objects.get(notification_type="bid_received")

    deliveries_create_for_chunk(notification_type="bid_received", stored=[(notification.pk, client.pk)])

    assert ChannelDelivery.objects.filter(notification=notification).count() == 2


@pytest.mark.parametrize(
    "change, reason",
    [
        ("seen", "seen in the app"),
        ("expired", "expired"),
        ("push_off", "channel turned off"),
    ],
)
def test_a_pending_push_is_cancelled_before_any_wire_when_stale(run, monkeypatch, change, reason):
    monkeypatch.setattr(dispatching, "channel_deliveries_dispatch_due", lambda **kwargs: 0)
    client = ClientFactory()
    subscribe(client)
    run(job_services.bid_place, job=CleaningJobFactory(client=client), cleaner=CleanerFactory(), amount=Decimal("80"))
    push = rows(NotificationType.BID_RECEIVED)[(client.pk, "push")]
    notification = push.notification
    if change == "seen":
        notification.seen_at = timezone.now()
        notification.save(update_fields=["seen_at"])
    elif change == "expired":
        notification.expired_at = timezone.now()
        notification.save(update_fields=["expired_at"])
    else:
        NotificationChannelPreference.objects.create(user=client, notification_type="bid_received", channel=Channel.PUSH, is_enabled=False)

    # No push module is needed: a cancelled row never reaches the wire.
    assert dispatching.channel_deliveries_send(delivery_ids=[push.pk]) == {}
    push.refresh_from_db()
    assert (push.state, push.cancel_reason, push.attempts) == ("cancelled", reason, 0)


def test_a_job_taken_retracts_the_offers_and_their_pending_pushes(run, monkeypatch):
    monkeypatch.setattr(dispatching, "channel_deliveries_dispatch_due", lambda **kwargs: 0)
    client, winner, other = ClientFactory(), CleanerFactory(), CleanerFactory()
    subscribe(other)
    job = post_job(run, client)
    bid = run(job_services.bid_place, job=job, cleaner=winner, amount=Decimal("80"))
    run(job_services.bid_accept, bid=bid, client=client)
    offer_push = rows(NotificationType.JOB_CREATED)[(other.pk, "push")]

    dispatching.channel_deliveries_send(delivery_ids=[offer_push.pk])

    offer_push.refresh_from_db()
    assert (offer_push.state, offer_push.cancel_reason) == ("cancelled", "expired")
