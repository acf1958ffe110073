import pytest
from django.core.management import CommandError, call_command

from notifications.models import Notification, OutboxEvent
from tests.factories import CleanerFactory, ClientFactory

pytestmark = pytest.mark.django_db


def test_command_sends_to_the_chosen_audience(django_capture_on_commit_callbacks, capsys):
    cleaner, client = CleanerFactory(), ClientFactory()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_announcement", audience="clients", title="Holiday hours", message="Support closes at 17:00")
    assert "queued" in capsys.readouterr().out
    notification = Notification.objects.get()
    assert (notification.recipient, notification.title, notification.message, notification.priority) == (
        client, "Holiday hours", "Support closes at 17:00", "urgent"
    )
    assert not Notification.objects.filter(recipient=cleaner).exists()


def test_command_refuses_an_empty_message_and_records_nothing():
    with pytest.raises(CommandError, match="message: A message is required"):
        call_command("send_announcement", audience="all", title="Hello", message="   ")
    assert OutboxEvent.objects.count() == 0


def test_command_refuses_an_unknown_audience():
    with pytest.raises(CommandError):
        call_command("send_announcement", audience="admins", title="Hello", message="Hi")
    assert OutboxEvent.objects.count() == 0
