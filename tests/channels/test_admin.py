"""Staff see every delivery (state, provider's answer) in a list and on its notification's page."""

import pytest
from django.utils import timezone

from notifications.models import ChannelDelivery, NotificationTemplate
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery():
    notification = NotificationFactory(notification_type="payment_received")
    now = timezone.now()
    return ChannelDelivery.objects.create(
        notification=notification, channel="email", state="failed", due_at=now, updated_at=now, attempts=6,
        provider_response="550 5.1.1 No such mailbox",
    )


def test_the_delivery_list_filters_by_state_and_channel(admin_client, delivery):
    page = admin_client.get("/admin/notifications/channeldelivery/?state=failed&channel=email").content.decode()
    assert "550 5.1.1 No such mailbox" in page
    assert f"payment_received #{delivery.notification_id}" in page
    assert "550 5.1.1" not in admin_client.get("/admin/notifications/channeldelivery/?state=sent").content.decode()


def test_the_notification_page_shows_its_deliveries(admin_client, delivery):
    page = admin_client.get(f"/admin/notifications/notification/{delivery.notification_id}/change/").content.decode()
    assert "550 5.1.1 No such mailbox" in page and "Failed" in page


def test_the_template_page_previews_the_email(admin_client):
    template = NotificationTemplate.objects.get(notification_type="bid_received", is_active=True)
    template.email_subject_template = "{{ cleaner_name }} bids {{ bid_amount }}"
    template.save()
    page = admin_client.get(f"/admin/notifications/notificationtemplate/{template.pk}/change/").content.decode()
    assert "Email preview" in page and "Ben bids €110.00" in page
