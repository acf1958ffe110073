import pytest
from django.urls import reverse

from notifications.catalog import NotificationType
from notifications.models import Notification, NotificationTemplate, OutboxChunk, OutboxEvent, OutboxStatus
from tests.notifications.factories import NotificationFactory, NotificationTemplateFactory

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:notifications_notificationtemplate_add")


def template_form(**overrides):
    data = {
        "name": "Short job alert",
        "notification_type": NotificationType.JOB_CREATED,
        "is_active": "",
        "default_priority": "medium",
        "title_template": "Job: {{ job_title }}",
        "message_template": "In {{ job_city }}.",
    }
    data.update(overrides)
    return data


def test_invalid_template_shows_form_errors_and_stores_nothing(admin_client):
    before = NotificationTemplate.objects.count()
    response = admin_client.post(
        ADD_URL, template_form(title_template="{% load static %}", message_template="{{ secret }}")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["title_template"] == ["Tag 'load' is not allowed; allowed tags: if, for, with, firstof."]
    assert errors["message_template"][0].startswith("Unknown variable 'secret' for job_created")
    assert NotificationTemplate.objects.count() == before


def test_valid_template_saves(admin_client):
    response = admin_client.post(ADD_URL, template_form())
    assert response.status_code == 302
    stored = NotificationTemplate.objects.get(name="Short job alert")
    assert stored.title_template == "Job: {{ job_title }}"
    assert stored.is_active is False


def test_a_second_active_template_for_a_type_is_a_form_error(admin_client):
    # The data migration already made the default template active.
    response = admin_client.post(ADD_URL, template_form(is_active="on"))
    assert response.status_code == 200
    assert "Another template is already active for this type" in response.content.decode()
    assert not NotificationTemplate.objects.filter(name="Short job alert").exists()


def test_activating_an_existing_template_while_another_is_active_is_a_form_error(admin_client):
    template = NotificationTemplateFactory()
    url = reverse("admin:notifications_notificationtemplate_change", args=[template.pk])
    response = admin_client.post(url, template_form(name=template.name, is_active="on"))
    assert response.status_code == 200
    assert "Another template is already active for this type" in response.content.decode()
    template.refresh_from_db()
    assert template.is_active is False


def test_change_page_shows_an_escaped_preview_with_sample_data(admin_client):
    template = NotificationTemplateFactory(
        title_template="<b>{{ client_name }}</b> posted", message_template="{{ job_city|upper }}"
    )
    response = admin_client.get(reverse("admin:notifications_notificationtemplate_change", args=[template.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "&lt;b&gt;Anna&lt;/b&gt; posted" in html
    assert "AMSTERDAM" in html
    # The variables the editor may use are listed next to the text.
    assert "job_title, job_city, service_type, scheduled_start, budget, client_name" in html


def test_template_changelist_and_add_page_render(admin_client):
    url = reverse("admin:notifications_notificationtemplate_changelist")
    assert admin_client.get(url, {"notification_type": "job_created", "q": "Default"}).status_code == 200
    response = admin_client.get(ADD_URL)
    assert response.status_code == 200
    assert "Save the template to see a preview." in response.content.decode()


def test_notification_admin_is_read_only(admin_client):
    notification = NotificationFactory(title="Original")
    change_url = reverse("admin:notifications_notification_change", args=[notification.pk])

    assert admin_client.get(reverse("admin:notifications_notification_add")).status_code == 403
    page = admin_client.get(change_url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.post(change_url, {"title": "Changed"}).status_code == 403
    notification.refresh_from_db()
    assert notification.title == "Original"


def test_notification_admin_can_delete(admin_client):
    notification = NotificationFactory()
    url = reverse("admin:notifications_notification_delete", args=[notification.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Notification.objects.filter(pk=notification.pk).exists()


def test_notification_changelist_filters_and_search(admin_client):
    NotificationFactory(title="Findable one", recipient__username="findme")
    url = reverse("admin:notifications_notification_changelist")
    for params in ({"expired": "yes"}, {"expired": "no", "is_read__exact": "0"}, {"q": "findme"}, {"q": "Findable"}):
        response = admin_client.get(url, params)
        assert response.status_code == 200
    assert "Findable one" in admin_client.get(url, {"q": "findme"}).content.decode()
    assert "Findable one" not in admin_client.get(url, {"expired": "yes"}).content.decode()


def test_outbox_retry_action_requeues_failed_events(admin_client, django_capture_on_commit_callbacks):
    failed = OutboxEvent.objects.create(
        event_type=NotificationType.BID_RECEIVED, status=OutboxStatus.FAILED, attempts=10, last_error="boom"
    )
    done = OutboxEvent.objects.create(event_type=NotificationType.BID_RECEIVED, status=OutboxStatus.DONE)
    url = reverse("admin:notifications_outboxevent_changelist")

    # Capture, do not run: running would process the event in-process (eager Celery).
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            url, {"action": "retry_events", "_selected_action": [failed.pk, done.pk]}, follow=True
        )

    assert response.status_code == 200
    failed.refresh_from_db()
    done.refresh_from_db()
    assert (failed.status, failed.attempts) == (OutboxStatus.PENDING, 0)
    assert done.status == OutboxStatus.DONE
    assert len(callbacks) == 1  # one enqueue, for the failed event only
    page = response.content.decode()
    assert "1 event(s) queued for retry." in page
    assert "1 event(s) already done; not retried." in page


def test_outbox_event_admin_has_no_add_and_shows_events(admin_client):
    event = OutboxEvent.objects.create(event_type=NotificationType.REMINDER, payload={"job_id": 1})
    assert admin_client.get(reverse("admin:notifications_outboxevent_add")).status_code == 403
    assert admin_client.get(reverse("admin:notifications_outboxevent_change", args=[event.pk])).status_code == 200
    assert admin_client.get(reverse("admin:notifications_outboxevent_changelist"), {"status__exact": "pending"}).status_code == 200


def test_failed_outbox_work_is_listed_with_its_error_and_a_retry_gives_its_chunk_new_attempts(
    admin_client, django_capture_on_commit_callbacks
):
    failed = OutboxEvent.objects.create(
        event_type=NotificationType.SYSTEM_ALERT, status=OutboxStatus.FAILED, chunk_count=1, attempts=1
    )
    chunk = OutboxChunk.objects.create(
        event=failed, first_recipient_id=1, last_recipient_id=9, recipient_ids=[1, 9],
        attempts=10, is_failed=True, last_error="ValueError: the template store is corrupt",
    )
    OutboxEvent.objects.filter(pk=failed.pk).update(last_error=f"chunk {chunk.pk}: ValueError: the template store is corrupt")
    OutboxEvent.objects.create(event_type=NotificationType.SYSTEM_ALERT, status=OutboxStatus.DONE)
    url = reverse("admin:notifications_outboxevent_changelist")

    listed = admin_client.get(url, {"status__exact": "failed"})
    assert [event.pk for event in listed.context["cl"].result_list] == [failed.pk]
    assert f"chunk {chunk.pk}: ValueError: the template store is corrupt" in listed.content.decode()
    detail = admin_client.get(reverse("admin:notifications_outboxevent_change", args=[failed.pk])).content.decode()
    assert "ValueError: the template store is corrupt" in detail

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        admin_client.post(url, {"action": "retry_events", "_selected_action": [failed.pk]})
    chunk.refresh_from_db()
    assert (chunk.is_failed, chunk.attempts) == (False, 0)
    assert OutboxEvent.objects.get(pk=failed.pk).status == OutboxStatus.DISPATCHED
    assert len(callbacks) == 1  # the chunk, queued again


def test_preference_admin_lists(admin_client):
    assert admin_client.get(reverse("admin:notifications_notificationpreference_changelist")).status_code == 200
