"""Quiet hours on email, through a real SMTP server, under a stopped clock (time-machine).

A user inside their quiet window gets no email until it ends, then one digest of what is still
unread; payments go through at once. The window's end is the user's local time, so on the night
the clocks go back (Europe/Amsterdam, 31 October 2027) a Saturday 22:00-07:00 window ends at
06:00 UTC, not 05:00.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from jobs import services as job_services
from notifications import quiet_hours, services
from notifications.models import ChannelDelivery, ChannelDigest, Notification
from tests.channels.test_email import header, run_beat
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory, PaymentFactory

pytestmark = pytest.mark.django_db

# Saturday 30 October 2027, 23:00 in Amsterdam (CEST, UTC+2); the clocks go back at 03:00 that night.
SATURDAY_NIGHT = datetime(2027, 10, 30, 21, 0, tzinfo=UTC)
# Sunday 07:00 in Amsterdam is 06:00 UTC once the clocks went back (CET, UTC+1).
SUNDAY_MORNING = datetime(2027, 10, 31, 6, 0, tzinfo=UTC)


@pytest.fixture
def quiet_client(settings):
    settings.CHANNEL_FALLBACK_SECONDS = 0  # the bid email's 10-minute delay off: quiet hours alone decide
    client = ClientFactory(email="cora@example.com")
    schedule = quiet_hours.quiet_hours_parse(time_zone="Europe/Amsterdam", windows={"sat": {"start": "22:00", "end": "07:00"}})
    quiet_hours.quiet_hours_save(user=client, schedule=schedule)
    return client


def bid(run, job, amount):
    return run(job_services.bid_place, job=job, cleaner=CleanerFactory(first_name=f"Cleaner{amount}"), amount=Decimal(amount))


def subjects(smtp):
    return [header(message, "Subject") for message in smtp.messages]


def test_emails_wait_for_the_end_of_quiet_hours_then_go_as_one_digest_on_the_night_the_clocks_go_back(smtp, run, quiet_client):
    job = CleaningJobFactory(client=quiet_client, title="Spring clean", scheduled_start=SATURDAY_NIGHT + timedelta(days=3))
    other_job = CleaningJobFactory(client=quiet_client, title="Windows", scheduled_start=SATURDAY_NIGHT + timedelta(days=3))
    with time_machine.travel(SATURDAY_NIGHT, tick=False) as clock:
        bid(run, job, "95")
        clock.shift(timedelta(hours=1))
        bid(run, job, "100")
        bid(run, other_job, "60")
        run_beat()
        assert smtp.messages == []  # not even the first bid: the window's batch rule comes after quiet hours
        digest = ChannelDigest.objects.get()
        assert (digest.reason, digest.batch_key, digest.window_ends_at) == ("until", "quiet", SUNDAY_MORNING)

        clock.move_to(SUNDAY_MORNING - timedelta(seconds=1))  # 06:59:59 local, after the clocks went back
        run_beat()
        assert smtp.messages == []
        clock.move_to(SUNDAY_MORNING + timedelta(seconds=1))
        run_beat()
    assert subjects(smtp) == ["While your quiet hours lasted: 3 notifications"]
    text = smtp.messages[0].get_body(("plain",)).get_content()
    assert "Cleaner95 offers €95.00." in text and "Cleaner60 offers €60.00." in text
    assert smtp.messages[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert set(ChannelDelivery.objects.values_list("state", flat=True)) == {"digested"}
    assert not ChannelDigest.objects.filter(state="open").exists()  # quiet hours are not a window: nothing restarts


def test_what_was_read_before_quiet_hours_ended_is_left_out_and_a_lone_one_goes_as_itself(smtp, run, quiet_client):
    job = CleaningJobFactory(client=quiet_client, title="Spring clean", scheduled_start=SATURDAY_NIGHT + timedelta(days=3))
    with time_machine.travel(SATURDAY_NIGHT, tick=False) as clock:
        bid(run, job, "95")
        bid(run, job, "100")
        run_beat()
        first = Notification.objects.filter(recipient=quiet_client).order_by("pk").first()
        services.notification_mark_read(user=quiet_client, notification_id=first.pk)
        clock.move_to(SUNDAY_MORNING + timedelta(seconds=1))
        run_beat()
    assert subjects(smtp) == ["New bid on Spring clean"]
    assert "Cleaner100 offers €100.00." in smtp.messages[0].get_body(("plain",)).get_content()
    assert ChannelDelivery.objects.get(notification=first).cancel_reason == "read in the app"


def test_a_payment_goes_through_quiet_hours_at_once(smtp, run, settings):
    settings.CHANNEL_FALLBACK_SECONDS = 0
    cleaner = CleanerFactory(email="ben@example.com")
    schedule = quiet_hours.quiet_hours_parse(time_zone="Europe/Amsterdam", windows={"sat": {"start": "22:00", "end": "07:00"}})
    quiet_hours.quiet_hours_save(user=cleaner, schedule=schedule)
    with time_machine.travel(SATURDAY_NIGHT, tick=False):
        run(PaymentFactory.create, payee=cleaner, amount=Decimal("99.00"))
        run_beat()
    assert subjects(smtp) == ["Payment received: €99.00"]
    assert not ChannelDigest.objects.exists()


def test_outside_quiet_hours_nothing_waits(smtp, run, quiet_client):
    job = CleaningJobFactory(client=quiet_client, title="Spring clean", scheduled_start=SATURDAY_NIGHT + timedelta(days=3))
    with time_machine.travel(SUNDAY_MORNING + timedelta(hours=2), tick=False):
        bid(run, job, "95")
        run_beat()
    assert subjects(smtp) == ["New bid on Spring clean"]
