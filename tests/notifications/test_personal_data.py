"""A person's data: the JSON download of their notifications, and deleting their account (API and page)."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from notifications import personal_data
from notifications.catalog import NotificationType
from notifications.models import AccountDeletion, Notification, NotificationPreference
from tests.factories import PASSWORD, PaymentFactory, UserFactory
from tests.notifications.factories import NotificationFactory
from webpush.models import PushSubscription

pytestmark = pytest.mark.django_db

User = get_user_model()
EXPORT_URL = reverse("notifications-api:export")
DELETE_URL = reverse("notifications-api:account-delete")


def streamed_json(response) -> dict:
    return json.loads(b"".join(response))  # an async stream (as uvicorn serves it), read whole here


def subscribe(user, n=1):
    for i in range(n):
        PushSubscription.objects.create(user=user, endpoint=f"https://push.example/{user.pk}/{i}", p256dh="k", auth="a")


# --- export -------------------------------------------------------------------------------


def test_export_is_a_json_file_of_every_own_notification_and_nothing_else(api_as, monkeypatch):
    monkeypatch.setattr(personal_data, "EXPORT_BATCH", 3)  # several batches
    user, other = UserFactory(), UserFactory()
    mine = NotificationFactory.create_batch(7, recipient=user)
    mine[2].expired_at = timezone.now()
    mine[2].save(update_fields=["expired_at"])
    NotificationFactory(recipient=other, title="Not yours")

    response = api_as(user).get(EXPORT_URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith(f'attachment; filename="notifications-{user.pk}-')
    body = streamed_json(response)
    assert body["user_id"] == user.pk
    assert [n["id"] for n in body["notifications"]] == [n.pk for n in mine]  # oldest first, the expired one too
    assert body["notifications"][0]["title"] == mine[0].title
    assert set(body["notifications"][0]) == set(personal_data.EXPORT_FIELDS)
    assert "Not yours" not in json.dumps(body)


def test_export_of_nothing_is_an_empty_list_and_needs_a_sign_in(api_as, api_client):
    assert streamed_json(api_as(UserFactory()).get(EXPORT_URL))["notifications"] == []
    assert api_client.get(EXPORT_URL).status_code in (401, 403)


def test_the_preferences_page_links_the_download_and_the_deletion():
    user = UserFactory()
    NotificationFactory(recipient=user, title="Hello")
    browser = Client()
    browser.force_login(user)
    page = browser.get(reverse("notifications:preferences")).content.decode()
    assert 'href="/notifications/export/"' in page and 'href="/account/delete/"' in page
    download = browser.get("/notifications/export/")
    assert download["Content-Disposition"].startswith("attachment;")
    assert [n["title"] for n in streamed_json(download)["notifications"]] == ["Hello"]


# --- account deletion ------------------------------------------------------------------------


def test_a_wrong_password_changes_nothing(api_as):
    user = UserFactory()
    Token.objects.create(user=user)
    response = api_as(user).post(DELETE_URL, {"password": "not it"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["errors"]
    user.refresh_from_db()
    assert user.is_active and Token.objects.filter(user=user).exists() and not AccountDeletion.objects.exists()


def test_deleting_an_account_removes_its_data_and_the_user_and_nothing_of_anyone_else(api_as, django_capture_on_commit_callbacks):
    user, other = UserFactory(), UserFactory()
    NotificationFactory.create_batch(5, recipient=user)
    NotificationPreference.objects.create(user=user, notification_type=NotificationType.JOB_CREATED)
    subscribe(user, 2)
    Token.objects.create(user=user)
    kept = NotificationFactory.create_batch(3, recipient=other)
    subscribe(other)

    with django_capture_on_commit_callbacks(execute=True):  # runs the purge task (eager in tests)
        response = api_as(user).post(DELETE_URL, {"password": PASSWORD}, format="json")

    assert (response.status_code, response.json()) == (202, {"status": "deleting"})
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Notification.objects.filter(recipient_id=user.pk).exists()
    assert not PushSubscription.objects.filter(user_id=user.pk).exists()
    assert not NotificationPreference.objects.filter(user_id=user.pk).exists()
    assert not Token.objects.filter(user_id=user.pk).exists()
    deletion = AccountDeletion.objects.get(user_id=user.pk)
    assert (deletion.outcome, deletion.notifications_deleted) == ("deleted", 5) and deletion.finished_at
    assert sorted(Notification.objects.values_list("pk", flat=True)) == [n.pk for n in kept]
    assert PushSubscription.objects.filter(user=other).count() == 1 and User.objects.filter(pk=other.pk).exists()


def test_the_request_deactivates_at_once_and_the_task_deletes_in_batches():
    user = UserFactory()
    NotificationFactory.create_batch(5, recipient=user)
    personal_data.account_delete_request(user=user, password=PASSWORD)  # on_commit not run: the task is pending
    user.refresh_from_db()
    assert not user.is_active and Notification.objects.filter(recipient=user).count() == 5

    with CaptureQueriesContext(connection) as queries:
        deletion = personal_data.account_purge(user_id=user.pk, batch=2)

    deletes = [q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "notifications_notification" WHERE "notifications_notification"."id" IN')]
    assert len(deletes) == 3  # 2 + 2 + 1, each its own transaction
    assert deletion.outcome == "deleted" and not User.objects.filter(pk=user.pk).exists()
    assert personal_data.account_purge(user_id=user.pk) is None  # a repeat finds it done


def test_someone_with_payments_is_kept_as_an_anonymous_inactive_row():
    payment = PaymentFactory()
    cleaner = payment.payee
    NotificationFactory.create_batch(2, recipient=cleaner)
    personal_data.account_delete_request(user=cleaner, password=PASSWORD)
    deletion = personal_data.account_purge(user_id=cleaner.pk)
    cleaner.refresh_from_db()
    assert deletion.outcome == "anonymized"
    assert (cleaner.username, cleaner.email, cleaner.first_name, cleaner.is_active) == (f"deleted-{cleaner.pk}", "", "", False)
    assert not cleaner.has_usable_password()
    assert not Notification.objects.filter(recipient=cleaner).exists()


def test_an_unfinished_deletion_is_sent_again_by_beat(monkeypatch):
    user = UserFactory()
    personal_data.account_delete_request(user=user, password=PASSWORD)
    AccountDeletion.objects.update(requested_at=timezone.now() - timedelta(minutes=10))
    sent = []
    monkeypatch.setattr(personal_data, "enqueue", lambda task, object_id: sent.append((task.name, object_id)))
    assert personal_data.account_deletions_resend() == 1
    assert sent == [("notifications.account_purge", user.pk)]


def test_the_page_asks_for_the_password_then_signs_out(django_capture_on_commit_callbacks):
    user = UserFactory()
    browser = Client()
    browser.force_login(user)
    assert browser.get("/account/delete/").status_code == 200
    wrong = browser.post("/account/delete/", {"password": "nope"})
    assert wrong.status_code == 400 and "That is not your password." in wrong.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = browser.post("/account/delete/", {"password": PASSWORD})
    assert done.status_code == 302 and done["Location"] == reverse("jobs:login")
    assert not User.objects.filter(pk=user.pk).exists()
    assert browser.get("/notifications/").status_code == 302  # signed out


@pytest.mark.django_db(transaction=True)
def test_export_streams_batch_by_batch_through_the_asgi_handler(monkeypatch):
    """As uvicorn serves it: the async iterator is read part by part, never whole first."""
    import asyncio

    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    monkeypatch.setattr(personal_data, "EXPORT_BATCH", 2)
    user = UserFactory()
    rows = NotificationFactory.create_batch(5, recipient=user)
    token = Token.objects.create(user=user)

    def close_handler_connection():
        connection.close()  # in the handler's thread: its own connection

    async def download():
        response = await AsyncClient().get(EXPORT_URL, headers={"Authorization": f"Token {token.key}"})
        parts = [part async for part in response.streaming_content]
        await sync_to_async(close_handler_connection)()  # the test client leaves it open
        return parts

    parts = asyncio.run(download())
    assert len(parts) == 1 + 5 + 1  # header, one per row, the closing
    assert [n["id"] for n in json.loads(b"".join(parts))["notifications"]] == [n.pk for n in rows]
