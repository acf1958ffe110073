"""Why did I get this: an offer stores why its cleaner matched (in the fan-out's own SQL),
and every type states its reason in one line on the list, the job page, the API and SSE."""

import json
import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import services as job_services
from jobs.models import CleanerProfile, Weekday
from notifications import reasons, services
from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxEvent, OutboxStatus
from notifications.outbox import dispatch
from notifications.serializers import NotificationSerializer
from notifications.sse import frames
from tests.factories import CITY_LAT, CITY_LON, PASSWORD, CleanerFactory, ClientFactory

pytestmark = pytest.mark.django_db



def haversine_km(lat_a, lon_a, lat_b, lon_b):
    dlat, dlon = math.radians(lat_b - lat_a), math.radians(lon_b - lon_a)
    a = math.sin(dlat / 2) ** 2 + math.cos(math.radians(lat_a)) * math.cos(math.radians(lat_b)) * math.sin(dlon / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def post_deep_clean(run, client=None):
    return run(
        job_services.job_create, client=client or ClientFactory(), title="Spring clean", service_type="deep",
        address="Damrak 1", city="Amsterdam", latitude=CITY_LAT, longitude=CITY_LON,
        scheduled_start=timezone.now() + timedelta(days=3), duration_hours=Decimal("3"), budget=Decimal("120"),
    )


def offer_of(cleaner):
    return Notification.objects.get(recipient=cleaner, notification_type=NotificationType.JOB_CREATED)


@pytest.fixture
def near_and_far(db):
    near = CleanerFactory(profile__latitude=CITY_LAT + 0.03, profile__longitude=CITY_LON, profile__service_radius_km=10.0)
    far = CleanerFactory(profile__latitude=CITY_LAT - 0.1, profile__longitude=CITY_LON + 0.15, profile__service_radius_km=25.0)
    return near, far


def test_an_offer_stores_each_cleaners_distance_radius_and_the_shared_service_and_weekday(run, near_and_far):
    job = post_deep_clean(run)

    weekday = Weekday.values[timezone.localtime(job.scheduled_start).weekday()]
    for cleaner in near_and_far:
        profile = cleaner.cleaner_profile
        why = offer_of(cleaner).metadata["why"]
        assert set(why) == {"distance_km", "radius_km", "service", "weekday"}
        assert why["distance_km"] == pytest.approx(haversine_km(CITY_LAT, CITY_LON, profile.latitude, profile.longitude), abs=0.05)
        assert (why["radius_km"], why["service"], why["weekday"]) == (profile.service_radius_km, "deep", weekday)
    assert offer_of(near_and_far[0]).metadata["job_id"] == job.pk
    assert 3.2 < offer_of(near_and_far[0]).metadata["why"]["distance_km"] < 3.5
    assert 15 < offer_of(near_and_far[1]).metadata["why"]["distance_km"] < 16


def test_an_offers_reason_reads_as_one_line(run, near_and_far):
    job = post_deep_clean(run)

    weekday = timezone.localtime(job.scheduled_start).strftime("%A")
    distance = offer_of(near_and_far[0]).metadata["why"]["distance_km"]
    assert reasons.reason_text(offer_of(near_and_far[0])) == (
        f"{distance:.1f} km from you, within your 10 km; you offer Deep cleaning; {weekday} is one of your working days"
    )


@pytest.mark.parametrize(
    ("notification_type", "metadata", "text"),
    [
        (NotificationType.JOB_CREATED, {"job_id": 1, "why": {"distance_km": 3.24, "radius_km": 10.0, "service": "deep", "weekday": "sat"}},
         "3.2 km from you, within your 10 km; you offer Deep cleaning; Saturday is one of your working days"),
        (NotificationType.JOB_CREATED, {"job_id": 1, "why": {"distance_km": 0.0, "radius_km": 7.5, "service": "windows", "weekday": "mon"}},
         "0.0 km from you, within your 7.5 km; you offer Window cleaning; Monday is one of your working days"),
        (NotificationType.JOB_CREATED, {"job_id": 1}, "The job matches your services, area and working days"),
        (NotificationType.BID_RECEIVED, {}, "Your job: a cleaner bid on it"),
        (NotificationType.BID_ACCEPTED, {}, "Your bid on this job"),
        (NotificationType.BID_REJECTED, {}, "Your bid on this job"),
        (NotificationType.JOB_ASSIGNED, {}, "Your job"),
        (NotificationType.JOB_STARTED, {}, "Your job"),
        (NotificationType.JOB_COMPLETED, {}, "Your job"),
        (NotificationType.JOB_CANCELLED, {}, "A job you bid on or were assigned"),
        (NotificationType.PAYMENT_RECEIVED, {}, "Your payment for this job"),
        (NotificationType.MESSAGE_RECEIVED, {}, "A message to you about this job"),
        (NotificationType.REMINDER, {}, "Your booking on this job"),
        (NotificationType.SYSTEM_ALERT, {"audience": "all"}, "An announcement to everyone"),
        (NotificationType.SYSTEM_ALERT, {"audience": "cleaners"}, "An announcement to all cleaners"),
        (NotificationType.SYSTEM_ALERT, {"audience": "clients"}, "An announcement to all clients"),
    ],
)
def test_every_type_states_its_reason_in_one_line(notification_type, metadata, text):
    assert reasons.reason_for(notification_type=notification_type, metadata=metadata) == text


def test_every_type_has_a_reason():
    assert all(reasons.reason_for(notification_type=t, metadata={}) for t in NotificationType.values)


def test_an_announcements_reason_names_its_audience_as_sent(run):
    cleaner = CleanerFactory()
    run(services.announcement_send, audience="cleaners", title="Heads up", message="New rates")
    assert reasons.reason_text(Notification.objects.get(recipient=cleaner)) == "An announcement to all cleaners"


def test_the_sse_frames_carry_each_cleaners_own_metadata_and_reason_as_the_api_does(run, near_and_far):
    post_deep_clean(run)
    rows = Notification.objects.filter(notification_type=NotificationType.JOB_CREATED).order_by("recipient_id")

    event_frames = frames.NotificationFrames(rows.first())
    columns = ("pk", "recipient_id", "seq", *frames.ROW_STATE_COLUMNS, *event_frames.per_row_columns)
    sent = {recipient: frame for recipient, frame in event_frames.for_rows(rows.values_list(*columns))}

    assert len(sent) == 2
    for notification in rows:
        data = json.loads(sent[notification.recipient_id].split("data: ", 1)[1])
        assert data == dict(NotificationSerializer(notification).data)
        assert data["reason"] == reasons.reason_text(notification)
    assert len({json.loads(f.split("data: ", 1)[1])["reason"] for f in sent.values()}) == 2


def test_the_api_lists_the_reason(run, near_and_far, api_as):
    post_deep_clean(run)
    near = near_and_far[0]

    items = api_as(near).get(reverse("notifications-api:list")).json()["results"]

    assert [item["reason"] for item in items] == [reasons.reason_text(offer_of(near))]
    assert items[0]["reason"].endswith("within your 10 km; you offer Deep cleaning; " + items[0]["reason"].split("; ")[2])


def test_the_notifications_list_shows_the_reason(run, near_and_far, client):
    post_deep_clean(run)
    near = near_and_far[0]
    client.login(username=near.username, password=PASSWORD)

    page = client.get(reverse("notifications:list")).content.decode()

    assert page.count("Why you got this: ") == 1
    assert f"Why you got this: {reasons.reason_text(offer_of(near))}</p>" in page


def test_the_job_page_shows_why_the_cleaner_got_the_offer_and_nothing_to_others(run, near_and_far, client):
    owner = ClientFactory()
    job = post_deep_clean(run, owner)
    near = near_and_far[0]
    outsider = CleanerFactory(profile__latitude=CITY_LAT + 0.001)  # eligible now, but not when the offers went out

    client.login(username=near.username, password=PASSWORD)
    page = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert f"Why you got this offer: {reasons.reason_text(offer_of(near))}</p>" in page

    for other in (outsider, owner):
        client.login(username=other.username, password=PASSWORD)
        page = client.get(reverse("jobs:detail", args=[job.pk]))
        assert page.status_code == 200
        assert "Why you got this offer" not in page.content.decode()


@pytest.mark.usefixtures("chunked_path")
def test_a_cleaner_who_gave_up_their_profile_before_the_insert_gets_no_offer(run, near_and_far, monkeypatch):
    # The insert reads the distance from the profile: whoever has none any more is not offered the job.
    near, far = near_and_far
    real_deliver = dispatch.outbox_chunk_deliver

    def profile_deleted_in_between(**kwargs):
        CleanerProfile.objects.filter(user=far).delete()
        real_deliver(**kwargs)

    monkeypatch.setattr(dispatch, "outbox_chunk_deliver", profile_deleted_in_between)
    post_deep_clean(run)

    assert list(Notification.objects.values_list("recipient_id", flat=True)) == [near.pk]
    assert Notification.objects.get(recipient=near).seq == 1
    event = OutboxEvent.objects.get(event_type=NotificationType.JOB_CREATED)
    assert (event.status, event.recipient_count) == (OutboxStatus.DONE, 1)
