"""The admin page where staff send an announcement (system_alert) to an audience."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse

from notifications import services
from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxEvent
from tests.factories import CleanerFactory, ClientFactory, UserFactory

pytestmark = pytest.mark.django_db

SEND_URL = reverse("admin:notifications_outboxevent_send_announcement")
CHANGELIST_URL = reverse("admin:notifications_outboxevent_changelist")


def announcement(**overrides):
    data = {"audience": "cleaners", "title": "Holiday hours", "message": "Support closes at 17:00 on Friday."}
    data.update(overrides)
    return data


def staff_user(*, with_permission):
    user = UserFactory(is_staff=True)
    if with_permission:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="notifications", codename="add_outboxevent"))
    return user


def test_changelist_links_to_the_send_page(admin_client):
    page = admin_client.get(CHANGELIST_URL).content.decode()
    assert f'href="{SEND_URL}"' in page
    assert "Send announcement" in page


def test_superuser_sees_the_form_in_the_admin(admin_client):
    response = admin_client.get(SEND_URL)
    assert response.status_code == 200
    page = response.content.decode()
    for name in ("audience", "title", "message"):
        assert f'name="{name}"' in page
    assert "<textarea" in page
    assert 'maxlength="200"' in page and 'maxlength="2000"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert 'id="site-name"' in page  # rendered inside the admin's base_site
    assert [value for value, _ in response.context["form"].fields["audience"].choices] == ["all", "cleaners", "clients"]


@pytest.mark.parametrize("audience", ["all", "cleaners", "clients"])
def test_valid_announcement_notifies_exactly_the_audience(admin_client, admin_user, django_capture_on_commit_callbacks, audience):
    cleaners = [CleanerFactory(), CleanerFactory()]
    clients = [ClientFactory(), ClientFactory()]
    # The superuser has no cleaner profile, so it counts as a client.
    targeted = {"all": cleaners + clients + [admin_user], "cleaners": cleaners, "clients": clients + [admin_user]}[audience]
    others = [u for u in cleaners + clients + [admin_user] if u not in targeted]

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(SEND_URL, announcement(audience=audience))

    assert response.status_code == 302
    assert response["Location"] == CHANGELIST_URL
    event = OutboxEvent.objects.get()
    assert event.event_type == NotificationType.SYSTEM_ALERT
    assert event.payload["audience"] == audience
    for user in targeted:
        notification = Notification.objects.get(recipient=user, notification_type=NotificationType.SYSTEM_ALERT)
        assert (notification.title, notification.message) == ("Holiday hours", "Support closes at 17:00 on Friday.")
    assert not Notification.objects.filter(recipient__in=others).exists()
    assert Notification.objects.count() == len(targeted)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Announcement queued for {dict(all='everyone', cleaners='all cleaners', clients='all clients')[audience]}"
        f" as outbox event #{event.pk}."
    ]


def test_success_message_shows_on_the_changelist(admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(SEND_URL, announcement(), follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == CHANGELIST_URL
    assert "Announcement queued for all cleaners as outbox event #" in response.content.decode()


@pytest.mark.parametrize("message", ["", "   "])
def test_empty_message_is_a_form_error_and_stores_nothing(admin_client, django_capture_on_commit_callbacks, message):
    CleanerFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(SEND_URL, announcement(message=message))
    assert response.status_code == 200
    assert response.context["form"].errors["message"] == ["This field is required."]
    assert "Please correct the error below." in response.content.decode()
    assert OutboxEvent.objects.count() == 0
    assert Notification.objects.count() == 0
    assert callbacks == []


def test_too_long_title_and_unknown_audience_are_form_errors(admin_client):
    response = admin_client.post(SEND_URL, announcement(audience="admins", title="x" * 201))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"audience", "title"}
    assert OutboxEvent.objects.count() == 0


def test_service_validation_errors_go_back_onto_the_form(admin_client, monkeypatch):
    def refuse(**kwargs):
        raise ValidationError({"title": ["Refused by the service."], "__all__": ["Not now."]})

    monkeypatch.setattr(services, "announcement_send", refuse)
    response = admin_client.post(SEND_URL, announcement())
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["title"] == ["Refused by the service."]
    assert form.non_field_errors() == ["Not now."]
    page = response.content.decode()
    assert "Refused by the service." in page and "Not now." in page
    assert OutboxEvent.objects.count() == 0


def test_anonymous_and_non_staff_users_are_sent_to_login(client):
    login_prefix = reverse("admin:login")
    assert client.get(SEND_URL)["Location"].startswith(login_prefix)

    client.force_login(ClientFactory())
    for response in (client.get(SEND_URL), client.post(SEND_URL, announcement())):
        assert response.status_code == 302
        assert response["Location"].startswith(login_prefix)
    assert OutboxEvent.objects.count() == 0


def test_staff_without_the_permission_get_403_and_no_link(client):
    client.force_login(staff_user(with_permission=False))
    assert client.get(SEND_URL).status_code == 403
    assert client.post(SEND_URL, announcement()).status_code == 403
    assert OutboxEvent.objects.count() == 0


def test_staff_with_the_add_permission_can_send(client, django_capture_on_commit_callbacks):
    user = staff_user(with_permission=True)
    client.force_login(user)
    assert client.get(SEND_URL).status_code == 200
    cleaner = CleanerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(SEND_URL, announcement())
    # Without view permission on the outbox there is no changelist to land on.
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    assert Notification.objects.filter(recipient=cleaner, notification_type=NotificationType.SYSTEM_ALERT).count() == 1


def test_changelist_hides_the_link_from_staff_who_may_only_view(client):
    user = staff_user(with_permission=False)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="notifications", codename="view_outboxevent"))
    client.force_login(user)
    response = client.get(CHANGELIST_URL)
    assert response.status_code == 200
    assert SEND_URL not in response.content.decode()


def test_post_without_csrf_token_is_refused(admin_user):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(admin_user)
    assert csrf_client.post(SEND_URL, announcement()).status_code == 403
    assert OutboxEvent.objects.count() == 0
