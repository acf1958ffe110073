"""Factories for notification rows; the shared ones (users, jobs) live in tests/factories.py."""

import factory

from notifications.catalog import NotificationType, Priority
from notifications.models import Notification, NotificationTemplate
from tests.factories import UserFactory


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    notification_type = NotificationType.BID_RECEIVED
    title = factory.Sequence(lambda n: f"Notification #{n}")
    message = "Something happened."
    priority = Priority.MEDIUM


class NotificationTemplateFactory(factory.django.DjangoModelFactory):
    """Inactive by default: the data migration already installed an active one per type."""

    class Meta:
        model = NotificationTemplate

    name = factory.Sequence(lambda n: f"Template #{n}")
    notification_type = NotificationType.JOB_CREATED
    title_template = "New job: {{ job_title }}"
    message_template = "In {{ job_city }}."
    default_priority = Priority.MEDIUM
    is_active = False
