"""Fair caps for job offers, over the real push wire to the local push service, under a stopped clock.

A cleaner gets at most N job offer pushes in any rolling hour (JOB_OFFER_PUSHES_PER_HOUR, or their
own override); the offers beyond it stay in the app and on the board, and the next push, when the
hour frees a slot, is one digest listing the most relevant still-open offers first.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from devtools import push_service
from jobs import services as job_services
from notifications.channels import dispatching
from notifications.models import ChannelDelivery, ChannelDigest, JobOfferPushCap, Notification
from tests.channels.test_email import run_beat
from tests.factories import CITY_LAT, CITY_LON, CleanerFactory, ClientFactory
from webpush.models import PushSubscription

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
KM_NORTH = 1 / 111.2  # degrees of latitude per km


@pytest.fixture
def service(settings):
    from webpush.vapid import vapid_keys_generate

    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = vapid_keys_generate()
    settings.JOB_OFFER_PUSHES_PER_HOUR = 2
    server = push_service.PushService().start()
    yield server
    server.stop()


@pytest.fixture
def cleaner(service):
    user = CleanerFactory()
    phone = push_service.BrowserSubscription(service.endpoint("phone"))
    PushSubscription.objects.create(user=user, endpoint=phone.endpoint, p256dh=phone.p256dh, auth=phone.auth)
    user.phone = phone
    return user


def received(service, cleaner) -> list[dict]:
    return [cleaner.phone.decrypt_json(push.body) for push in service.pushes_to("phone")]


def post_job(run, *, title, km, budget):
    return run(
        job_services.job_create, client=ClientFactory(), title=title, service_type="standard", address="Damrak 1",
        city="Amsterdam", latitude=CITY_LAT + km * KM_NORTH, longitude=CITY_LON,
        scheduled_start=timezone.now() + timedelta(days=3), duration_hours=Decimal("3"), budget=Decimal(budget),
    )


def offer_pushes(cleaner):
    return ChannelDelivery.objects.filter(channel="push", notification__recipient=cleaner, notification__notification_type="job_created")


def test_within_the_cap_each_offer_is_pushed_at_once(run, cleaner, service):
    post_job(run, title="A", km=3, budget="80")
    post_job(run, title="B", km=1, budget="80")
    assert [p["body"].split(" on ")[0] for p in received(service, cleaner)] == ["A", "B"]


def test_beyond_the_cap_offers_wait_and_the_next_push_is_one_digest_nearest_first(run, cleaner, service, monkeypatch):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        start = timezone.now()
        # Five offers due in one dispatch (the at-once dispatch held back, the beat picks them together).
        monkeypatch.setattr(dispatching, "dispatch_due_soon", lambda: None)
        for title, km, budget in (("Far", 12, "200"), ("Near", 1, "60"), ("Mid", 5, "90"), ("Mid rich", 5, "150"), ("Taken", 2, "99")):
            post_job(run, title=title, km=km, budget=budget)
        run_beat()
        # The two slots went to the nearest two, not to the first two posted.
        assert sorted(p["body"].split(" on ")[0] for p in received(service, cleaner)) == ["Near", "Taken"]  # sent in parallel
        assert sorted(offer_pushes(cleaner).values_list("state", flat=True)) == ["held", "held", "held", "sent", "sent"]
        # In the app every offer is there.
        assert Notification.objects.filter(recipient=cleaner, notification_type="job_created").count() == 5

        digest = ChannelDigest.objects.get(state="open")
        assert (digest.reason, digest.batch_key, digest.due_at) == ("job_offer_cap", "job-offers", start + HOUR)
        # A held offer the job of which went to someone else is retracted: the digest leaves it out.
        Notification.objects.filter(recipient=cleaner, job__title="Mid").update(expired_at=timezone.now())

        clock.move_to(start + HOUR - timedelta(seconds=1))
        run_beat()
        assert len(received(service, cleaner)) == 2
        clock.move_to(start + HOUR + timedelta(seconds=1))
        run_beat()
        pushes = received(service, cleaner)
        assert len(pushes) == 3
        assert pushes[2]["title"] == "2 new jobs near you"
        # The still-open ones, nearest first.
        assert pushes[2]["body"].startswith("Mid rich on ") and " · Far on " in pushes[2]["body"]
        assert pushes[2]["tag"] == "digest-job-offers"
        assert pushes[2]["url"] == "/notifications/?type=job_created"
        digest.refresh_from_db()
        assert (digest.state, digest.member_count) == ("sent", 2)

        # The digest took a slot at start + 1h; the two of `start` left the hour: one slot is free.
        post_job(run, title="Next", km=4, budget="70")
        run_beat()
        assert received(service, cleaner)[-1]["body"].startswith("Next")
        post_job(run, title="Later", km=4, budget="70")
        run_beat()
        assert len(received(service, cleaner)) == 4
        # Held until the digest's slot leaves the hour.
        assert ChannelDigest.objects.get(state="open").due_at == start + HOUR + timedelta(seconds=1) + HOUR


def test_relevance_breaks_a_distance_tie_by_the_higher_budget(run, cleaner, service, monkeypatch, settings):
    settings.JOB_OFFER_PUSHES_PER_HOUR = 1
    monkeypatch.setattr(dispatching, "dispatch_due_soon", lambda: None)
    post_job(run, title="Cheap", km=3, budget="60")
    post_job(run, title="Rich", km=3, budget="160")
    run_beat()
    assert [p["body"].split(" on ")[0] for p in received(service, cleaner)] == ["Rich"]


def test_a_cleaners_own_cap_overrides_the_setting(run, cleaner, service):
    JobOfferPushCap.objects.create(user=cleaner, per_hour=1)
    with time_machine.travel(timezone.now(), tick=False):
        post_job(run, title="One", km=1, budget="80")
        post_job(run, title="Two", km=1, budget="80")
    assert len(received(service, cleaner)) == 1
    assert sorted(offer_pushes(cleaner).values_list("state", flat=True)) == ["held", "sent"]


def test_a_cap_of_zero_sends_no_offer_push_and_keeps_the_offers_in_the_app(run, cleaner, service):
    JobOfferPushCap.objects.create(user=cleaner, per_hour=0)
    post_job(run, title="One", km=1, budget="80")
    assert received(service, cleaner) == []
    push = offer_pushes(cleaner).get()
    assert (push.state, push.cancel_reason) == ("cancelled", "job offer pushes are off (0 an hour)")
    assert Notification.objects.filter(recipient=cleaner, notification_type="job_created").count() == 1


def test_the_hour_rolls_slot_by_slot(run, cleaner, service):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        start = timezone.now()
        post_job(run, title="One", km=1, budget="80")
        clock.shift(timedelta(minutes=20))
        post_job(run, title="Two", km=1, budget="80")
        clock.shift(timedelta(minutes=20))
        post_job(run, title="Three", km=1, budget="80")  # held until One leaves the hour
        assert ChannelDigest.objects.get(state="open").due_at == start + HOUR
        clock.move_to(start + HOUR + timedelta(seconds=1))
        run_beat()  # the digest of one goes as that offer's own push
        titles = [p["body"].split(" on ")[0] for p in received(service, cleaner)]
        assert titles == ["One", "Two", "Three"]
        post_job(run, title="Four", km=1, budget="80")  # Two and Three's slots are in the hour: held
        assert len(received(service, cleaner)) == 3
        assert ChannelDigest.objects.get(state="open").due_at == start + timedelta(minutes=20) + HOUR
