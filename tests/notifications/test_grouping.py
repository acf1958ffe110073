"""Grouped notifications: the key the fan-out stores, the grouped reads and their summary line,
the API's grouped listing, one group's members, and marking a group read (own rows only)."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import services as job_services
from notifications import selectors, services
from notifications.catalog import NotificationType
from notifications.models import Notification
from project.exceptions import NotFound
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("notifications-api:list")


def group_url(key):
    return reverse("notifications-api:group", args=[key])


def group_read_url(key):
    return reverse("notifications-api:group-read", args=[key])



@pytest.fixture
def spring_clean(run):
    """A client's job with four bids (95 to 120) through the real services and fan-out, and one message."""
    client = ClientFactory(first_name="Anna", last_name="")
    job = CleaningJobFactory(client=client, title="Spring clean")
    cleaners = [CleanerFactory(first_name=name, last_name="") for name in ("Ben", "Cleo", "Dev", "Eva")]
    for cleaner, amount in zip(cleaners, ("110", "95", "120", "100"), strict=True):
        run(job_services.bid_place, job=job, cleaner=cleaner, amount=Decimal(amount))
    return client, job, cleaners


def test_the_fan_out_stores_each_types_group_key_and_the_bid_amount(spring_clean, run):
    client, job, cleaners = spring_clean
    bids = Notification.objects.filter(recipient=client, notification_type=NotificationType.BID_RECEIVED)
    assert {n.group_key for n in bids} == {f"bids:job:{job.pk}"}
    assert sorted(Decimal(n.metadata["amount"]) for n in bids) == [Decimal("95"), Decimal("100"), Decimal("110"), Decimal("120")]

    run(job_services.message_send, job=job, sender=client, recipient=cleaners[0], body="Hi Ben")
    message = Notification.objects.get(notification_type=NotificationType.MESSAGE_RECEIVED)
    assert message.group_key == f"messages:job:{job.pk}:from:{client.pk}"

    run(job_services.job_cancel, job=job, client=client)  # the bidders' bid_rejected and job_cancelled: no group
    ungrouped = Notification.objects.exclude(notification_type__in=[NotificationType.BID_RECEIVED, NotificationType.MESSAGE_RECEIVED])
    assert ungrouped.filter(recipient__in=cleaners).count() >= len(cleaners)
    assert not ungrouped.filter(group_key__isnull=False).exists()


def test_grouped_listing_is_one_entry_per_group_with_its_summary(spring_clean):
    client, job, _ = spring_clean
    alert = NotificationFactory(recipient=client, notification_type=NotificationType.SYSTEM_ALERT, title="Maintenance tonight")

    groups = selectors.notification_groups_for_user(user=client)

    assert groups.count() == 2
    first, second = groups[0:10]
    assert (first.key, first.count, first.latest.pk, first.summary) == (None, 1, alert.pk, "Maintenance tonight")
    bids = list(Notification.objects.filter(recipient=client, group_key=f"bids:job:{job.pk}").order_by("-id"))
    assert second.key == f"bids:job:{job.pk}"
    assert (second.count, second.unread_count) == (4, 4)
    assert second.latest == bids[0]
    assert [m.pk for m in second.members] == [b.pk for b in bids]
    assert second.summary == "4 new bids on Spring clean, from €95.00 to €120.00"


def test_summary_says_how_many_are_new_and_leaves_out_expired_members(spring_clean):
    client, job, _ = spring_clean
    oldest, second, *_ = Notification.objects.filter(recipient=client).order_by("id")
    services.notification_mark_read(user=client, notification_id=second.pk)
    Notification.objects.filter(pk=oldest.pk).update(expired_at=timezone.now())  # the 110 bid

    [group] = selectors.notification_groups_for_user(user=client)[0:5]

    assert (group.count, group.unread_count) == (3, 2)
    assert group.summary == "3 bids on Spring clean (2 new), from €95.00 to €120.00"
    services.notifications_mark_group_read(user=client, group_key=group.key)
    [group] = selectors.notification_groups_for_user(user=client)[0:5]
    assert group.summary == "3 bids on Spring clean, from €95.00 to €120.00"


def test_messages_group_by_job_and_sender(run):
    cleaner = CleanerFactory(first_name="Ben", last_name="")
    anna = ClientFactory(first_name="Anna", last_name="")
    job = CleaningJobFactory(client=anna, title="Spring clean")
    run(job_services.bid_place, job=job, cleaner=cleaner, amount=Decimal("90"))
    for body in ("Hello", "Do you bring a vacuum?", "See you Friday"):
        run(job_services.message_send, job=job, sender=anna, recipient=cleaner, body=body)
    other_job = CleaningJobFactory(client=anna, title="Windows")
    run(job_services.bid_place, job=other_job, cleaner=cleaner, amount=Decimal("50"))
    run(job_services.message_send, job=other_job, sender=anna, recipient=cleaner, body="And the windows?")

    entries = selectors.notification_groups_for_user(user=cleaner, notification_type=NotificationType.MESSAGE_RECEIVED)[0:10]

    assert [(g.count, g.summary) for g in entries] == [
        (1, "New message from Anna"),
        (3, "3 new messages from Anna about Spring clean"),
    ]


def test_grouped_listing_pages_by_group_and_keeps_the_filters(spring_clean, api_as):
    client, job, _ = spring_clean
    for i in range(3):
        NotificationFactory(recipient=client, notification_type=NotificationType.SYSTEM_ALERT, title=f"Alert {i}")
    api = api_as(client)

    body = api.get(LIST_URL, {"grouped": "true"}).json()
    assert body["count"] == 4
    assert [(e["key"], e["count"]) for e in body["results"]] == [(None, 1), (None, 1), (None, 1), (f"bids:job:{job.pk}", 4)]
    bids = body["results"][3]
    assert set(bids) == {"key", "count", "unread_count", "summary", "latest", "members", "member_ids", "members_url"}
    assert bids["summary"] == "4 new bids on Spring clean, from €95.00 to €120.00"
    assert bids["member_ids"] == [m["id"] for m in bids["members"]]
    assert bids["member_ids"] == sorted(bids["member_ids"], reverse=True) and len(bids["member_ids"]) == 4
    assert bids["latest"]["id"] == bids["member_ids"][0] and bids["latest"]["group_key"] == f"bids:job:{job.pk}"

    # Expanding: the members_url is the flat listing of that group.
    members = api.get(bids["members_url"]).json()
    assert [n["id"] for n in members["results"]] == bids["member_ids"]
    assert api.get(LIST_URL).json()["count"] == 7  # the flat listing stays the default

    only_bids = api.get(LIST_URL, {"grouped": "true", "type": "bid_received"}).json()
    assert [e["count"] for e in only_bids["results"]] == [4]


def test_one_group_by_key_and_someone_elses_key_is_not_found(spring_clean, api_as):
    client, job, _ = spring_clean
    key = f"bids:job:{job.pk}"

    response = api_as(client).get(group_url(key))
    assert response.status_code == 200 and response.json()["count"] == 4

    stranger = api_as(ClientFactory())
    assert stranger.get(group_url(key)).status_code == 404
    response = stranger.post(group_read_url(key))
    assert response.status_code == 404
    assert "error" in response.json() or "detail" in response.json()
    assert not Notification.objects.filter(recipient=client, is_read=True).exists()


def test_mark_group_read_touches_only_the_callers_own_members_of_that_group(spring_clean, api_as):
    client, job, _ = spring_clean
    key = f"bids:job:{job.pk}"
    other = NotificationFactory(recipient=client, notification_type=NotificationType.SYSTEM_ALERT)
    someone_else = NotificationFactory(notification_type=NotificationType.BID_RECEIVED, group_key=key)  # same key, other user

    response = api_as(client).post(group_read_url(key))

    assert response.status_code == 200 and response.json() == {"marked_read": 4}
    assert not Notification.objects.filter(recipient=client, group_key=key, is_read=False).exists()
    assert all(n.read_at for n in Notification.objects.filter(recipient=client, group_key=key))
    assert not Notification.objects.get(pk=other.pk).is_read
    assert not Notification.objects.get(pk=someone_else.pk).is_read
    assert selectors.notification_unread_count(user_id=client.pk) == 1
    # Again: nothing left to change, still the caller's group.
    assert api_as(client).post(group_read_url(key)).json() == {"marked_read": 0}


def test_mark_group_read_refuses_an_unknown_key():
    with pytest.raises(NotFound):
        services.notifications_mark_group_read(user=ClientFactory(), group_key="bids:job:999999")


def test_grouped_filter_rejects_bad_values(api_as):
    api = api_as(ClientFactory())
    assert api.get(LIST_URL, {"grouped": "maybe"}).status_code == 400
    assert api.get(LIST_URL, {"group": "x" * 101}).status_code == 400
