import pytest
from django.urls import include, path, reverse
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from notifications.catalog import NotificationType
from notifications.models import Notification, NotificationPreference
from tests.factories import UserFactory
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("notifications-api:list")
READ_ALL_URL = reverse("notifications-api:read-all")
UNREAD_COUNT_URL = reverse("notifications-api:unread-count")
PREFERENCES_URL = reverse("notifications-api:preferences")


def read_url(notification_id):
    return reverse("notifications-api:read", args=[notification_id])


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def client(api_as, user):
    return api_as(user)


def ids(response):
    return [item["id"] for item in response.json()["results"]]


# --- list -----------------------------------------------------------------------


def test_list_returns_only_the_callers_live_notifications_latest_first(client, user):
    older = NotificationFactory(recipient=user)
    newer = NotificationFactory(recipient=user, metadata={"job_id": 7}, action_url="/jobs/7/")
    NotificationFactory(recipient=user, expired_at="2026-01-01T00:00:00Z")
    NotificationFactory()  # someone else's

    response = client.get(LIST_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert ids(response) == [newer.pk, older.pk]
    assert set(body["results"][0]) == {
        "id", "notification_type", "title", "message", "priority", "is_read", "read_at", "is_delivered",
        "delivered_at", "seen_at", "clicked_at", "action_url", "metadata", "created_at", "reason", "group_key",
    }
    assert body["results"][0]["metadata"] == {"job_id": 7}


def test_list_filters_by_read_state_and_type(client, user):
    unread = NotificationFactory(recipient=user, notification_type=NotificationType.BID_RECEIVED)
    read = NotificationFactory(recipient=user, is_read=True, notification_type=NotificationType.BID_RECEIVED)
    other_type = NotificationFactory(recipient=user, notification_type=NotificationType.REMINDER)

    assert ids(client.get(LIST_URL, {"unread": "true"})) == [other_type.pk, unread.pk]
    assert ids(client.get(LIST_URL, {"unread": "false"})) == [read.pk]
    assert ids(client.get(LIST_URL, {"type": "reminder"})) == [other_type.pk]
    assert ids(client.get(LIST_URL, {"type": "bid_received", "unread": "1"})) == [unread.pk]
    assert len(ids(client.get(LIST_URL, {"type": "", "unread": ""}))) == 3


@pytest.mark.parametrize(
    "params, field", [({"unread": "maybe"}, "unread"), ({"type": "no_such_type"}, "type")]
)
def test_list_rejects_bad_filters_with_a_field_error(client, params, field):
    response = client.get(LIST_URL, params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"]


def test_list_is_paginated(client, user):
    NotificationFactory.create_batch(21, recipient=user)
    first = client.get(LIST_URL).json()
    assert (first["count"], len(first["results"])) == (21, 20)
    assert first["next"] is not None
    assert len(client.get(LIST_URL, {"page": 2}).json()["results"]) == 1


def test_endpoints_need_authentication(api_client):
    assert api_client.get(LIST_URL).status_code in (401, 403)
    assert api_client.get(UNREAD_COUNT_URL).status_code in (401, 403)
    assert api_client.post(READ_ALL_URL).status_code in (401, 403)
    assert api_client.get(PREFERENCES_URL).status_code in (401, 403)


# --- read state -------------------------------------------------------------------


def test_mark_read_returns_the_notification(client, user):
    notification = NotificationFactory(recipient=user)
    response = client.post(read_url(notification.pk))
    assert response.status_code == 200
    assert response.json()["id"] == notification.pk
    assert response.json()["is_read"] is True
    assert response.json()["read_at"] is not None
    notification.refresh_from_db()
    assert notification.is_read


def test_mark_read_of_another_users_notification_is_404(client):
    someone_elses = NotificationFactory()
    response = client.post(read_url(someone_elses.pk))
    assert response.status_code == 404
    assert response.json() == {"detail": "No such notification.", "code": "not_found"}
    someone_elses.refresh_from_db()
    assert someone_elses.is_read is False


def test_mark_read_of_a_missing_notification_is_404(client):
    assert client.post(read_url(999_999_999)).status_code == 404


def test_read_all_touches_only_the_callers_notifications(client, user):
    mine = NotificationFactory.create_batch(2, recipient=user)
    NotificationFactory(recipient=user, is_read=True)
    theirs = NotificationFactory()

    response = client.post(READ_ALL_URL)

    assert response.status_code == 200
    assert response.json() == {"marked_read": 2}
    assert all(n.is_read for n in Notification.objects.filter(pk__in=[m.pk for m in mine]))
    theirs.refresh_from_db()
    assert theirs.is_read is False
    assert client.post(READ_ALL_URL).json() == {"marked_read": 0}


def test_unread_count(client, user):
    NotificationFactory.create_batch(3, recipient=user)
    NotificationFactory(recipient=user, is_read=True)
    NotificationFactory(recipient=user, expired_at="2026-01-01T00:00:00Z")
    NotificationFactory()
    response = client.get(UNREAD_COUNT_URL)
    assert response.status_code == 200
    assert response.json() == {"count": 3}


# --- preferences ------------------------------------------------------------------


def test_preferences_get_lists_every_type(client, user):
    NotificationPreference.objects.create(user=user, notification_type=NotificationType.REMINDER, is_muted=True)
    body = client.get(PREFERENCES_URL).json()
    assert set(body["muted"]) == set(NotificationType.values)
    assert body["muted"]["reminder"] is True
    assert body["muted"]["job_created"] is False
    assert body["unmutable"] == ["system_alert"]


def test_preferences_put_updates_and_returns_the_full_set(client, user):
    response = client.put(PREFERENCES_URL, {"muted": {"job_created": True, "reminder": False}}, format="json")
    assert response.status_code == 200
    assert response.json()["muted"]["job_created"] is True
    assert response.json()["muted"]["reminder"] is False
    assert NotificationPreference.objects.get(user=user, notification_type="job_created").is_muted is True
    assert client.get(PREFERENCES_URL).json()["muted"]["job_created"] is True


@pytest.mark.parametrize(
    "body, message",
    [
        ({"muted": ["job_created"]}, "Expected a dictionary"),
        ({"muted": {"job_created": "yes"}}, "Must be true or false."),
        ({"muted": {"job_created": 1}}, "Must be true or false."),
        ({"muted": {"job_created": True, "no_such_type": True}}, "Unknown notification type: no_such_type."),
        ({"muted": {"job_created": True, "system_alert": True}}, "These cannot be muted: system_alert."),
        ({}, "This field is required."),
        (["job_created"], "Expected a dictionary"),
    ],
)
def test_preferences_put_rejects_bad_bodies_and_changes_nothing(client, user, body, message):
    response = client.put(PREFERENCES_URL, body, format="json")
    assert response.status_code == 400
    assert message in str(response.json())
    assert not NotificationPreference.objects.filter(user=user).exists()


def test_preferences_put_refuses_form_encoding(client, user):
    response = client.put(PREFERENCES_URL, "muted=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert not NotificationPreference.objects.filter(user=user).exists()


# --- schema -----------------------------------------------------------------------


def test_openapi_schema_has_no_warnings_for_these_views():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/", include("notifications.api_urls"))])
    schema = generator.get_schema(request=None, public=True)
    validate_schema(schema)
    assert not GENERATOR_STATS, "drf-spectacular reported warnings or errors"
    assert set(schema["paths"]) == {
        "/api/notifications/",
        "/api/notifications/{notification_id}/read/",
        "/api/notifications/read-all/",
        "/api/notifications/unread-count/",
        "/api/notifications/preferences/",
        "/api/notifications/quiet-hours/",
        "/api/notifications/receipts/",
        "/api/notifications/groups/{group_key}/",
        "/api/notifications/groups/{group_key}/read/",
        "/api/notifications/export/",
        "/api/account/delete/",
    }
