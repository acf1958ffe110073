"""Receipts: the service's rules and the ack endpoint (POST /api/notifications/receipts/)."""

import pytest
from django.test import Client
from django.urls import reverse

from notifications.models import Notification
from notifications.receipts import notification_receipts_record
from project.exceptions import InvalidInput
from tests.factories import UserFactory
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db

RECEIPTS_URL = reverse("notifications-api:receipts")


def states(notification):
    notification.refresh_from_db()
    return (notification.delivered_at, notification.seen_at, notification.clicked_at)


@pytest.fixture
def user():
    return UserFactory()


# --- the service ------------------------------------------------------------------------------


def test_each_state_is_set_once_and_a_later_ack_never_moves_it(user):
    first, second = NotificationFactory(recipient=user), NotificationFactory(recipient=user)

    changed = notification_receipts_record(user=user, delivered=[first.pk, second.pk], seen=[], clicked=[])
    delivered_at = states(first)[0]
    again = notification_receipts_record(user=user, delivered=[first.pk, second.pk], seen=[], clicked=[])

    assert changed == {"delivered": 2, "seen": 0, "clicked": 0}
    assert again == {"delivered": 0, "seen": 0, "clicked": 0}
    assert states(first) == (delivered_at, None, None)
    assert first.is_delivered is True


def test_a_later_state_implies_the_earlier_ones(user):
    notification = NotificationFactory(recipient=user)

    changed = notification_receipts_record(user=user, delivered=[], seen=[], clicked=[notification.pk])

    delivered_at, seen_at, clicked_at = states(notification)
    assert changed == {"delivered": 1, "seen": 1, "clicked": 1}
    assert delivered_at == seen_at == clicked_at is not None


def test_seen_after_delivered_keeps_the_delivered_time(user):
    notification = NotificationFactory(recipient=user)
    notification_receipts_record(user=user, delivered=[notification.pk], seen=[], clicked=[])
    delivered_at = states(notification)[0]

    changed = notification_receipts_record(user=user, delivered=[], seen=[notification.pk], clicked=[])

    assert changed == {"delivered": 0, "seen": 1, "clicked": 0}
    assert states(notification)[0] == delivered_at
    assert states(notification)[1] > delivered_at


def test_acks_for_another_users_notifications_change_nothing(user):
    theirs = NotificationFactory()

    changed = notification_receipts_record(user=user, delivered=[theirs.pk], seen=[theirs.pk], clicked=[theirs.pk])

    assert changed == {"delivered": 0, "seen": 0, "clicked": 0}
    assert states(theirs) == (None, None, None)


def test_more_ids_than_the_limit_are_refused_and_nothing_changes(user, settings):
    settings.NOTIFICATION_RECEIPTS_MAX_IDS = 2
    mine = [NotificationFactory(recipient=user).pk for _ in range(3)]

    with pytest.raises(InvalidInput) as error:
        notification_receipts_record(user=user, delivered=mine[:1], seen=mine, clicked=[])

    assert error.value.field == "seen"
    assert Notification.objects.filter(delivered_at__isnull=False).count() == 0


# --- the endpoint ------------------------------------------------------------------------------


def test_the_endpoint_records_the_callers_acks_and_the_api_shows_them(api_as, user):
    client = api_as(user)
    mine, theirs = NotificationFactory(recipient=user), NotificationFactory()

    response = client.post(RECEIPTS_URL, {"delivered": [mine.pk, theirs.pk], "seen": [mine.pk]}, format="json")

    assert response.status_code == 200
    assert response.json() == {"delivered": 1, "seen": 1, "clicked": 0}
    item = client.get(reverse("notifications-api:list")).json()["results"][0]
    assert item["id"] == mine.pk
    assert item["is_delivered"] is True
    assert item["delivered_at"] is not None and item["seen_at"] is not None and item["clicked_at"] is None
    assert states(theirs) == (None, None, None)


def test_too_many_ids_is_a_400_with_the_field(api_as, user, settings):
    settings.NOTIFICATION_RECEIPTS_MAX_IDS = 2

    response = api_as(user).post(RECEIPTS_URL, {"delivered": [1, 2, 3]}, format="json")

    assert response.status_code == 400
    assert "delivered" in str(response.json())


@pytest.mark.parametrize("ids", [["x"], [0], [-3], [2**63], [True], 5], ids=["string", "zero", "negative", "past-bigint", "bool", "not-a-list"])
def test_ids_must_be_positive_integers_within_a_bigint(api_as, user, ids):
    notification = NotificationFactory(recipient=user)

    response = api_as(user).post(RECEIPTS_URL, {"seen": ids, "delivered": [notification.pk]}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"seen": ["Expected a list of notification ids (positive integers)."]}
    assert states(notification) == (None, None, None)


def test_a_flood_of_acks_is_throttled(api_as, user, throttle_rate):
    throttle_rate("notification_receipts", "3/min")
    client = api_as(user)
    notification = NotificationFactory(recipient=user)

    codes = [client.post(RECEIPTS_URL, {"delivered": [notification.pk]}, format="json").status_code for _ in range(5)]

    assert codes == [200, 200, 200, 429, 429]


def test_anonymous_acks_are_refused():
    response = Client().post(RECEIPTS_URL, {"delivered": [1]}, content_type="application/json")

    assert response.status_code in (401, 403)


def test_a_session_ack_needs_the_csrf_header(user):
    notification = NotificationFactory(recipient=user)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get(reverse("notifications:list"))  # sets the csrftoken cookie
    body = {"delivered": [notification.pk]}

    without = browser.post(RECEIPTS_URL, body, content_type="application/json")
    token = browser.cookies["csrftoken"].value
    with_header = browser.post(RECEIPTS_URL, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)

    assert without.status_code == 403
    assert with_header.status_code == 200
    assert states(notification)[0] is not None


def test_the_first_delivery_of_each_notification_is_timed_once_from_its_events_commit(user, django_capture_on_commit_callbacks):
    from prometheus_client import REGISTRY

    from notifications.models import OutboxEvent

    def observed() -> float:
        return REGISTRY.get_sample_value("notification_commit_to_delivered_seconds_count") or 0.0

    first, second = (
        NotificationFactory(recipient=user, event=OutboxEvent.objects.create(event_type="bid_received", payload={}))
        for _ in range(2)
    )
    before = observed()
    with django_capture_on_commit_callbacks(execute=True):
        notification_receipts_record(user=user, delivered=[first.pk], seen=[], clicked=[])
    with django_capture_on_commit_callbacks(execute=True):
        notification_receipts_record(user=user, delivered=[first.pk, second.pk], seen=[second.pk], clicked=[])

    assert observed() - before == 2  # first once, second once; the repeat ack is not a delivery
