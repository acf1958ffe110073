"""The cleaner's profile page: see and change why they get the offers they get; the next job follows it."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import cleaner_profiles
from project.exceptions import ActionForbidden
from jobs.models import CleanerProfile, CleanerUnavailability, CleaningJob
from notifications.catalog import NotificationType
from notifications.models import Notification
from tests.factories import CleanerFactory, CleanerUnavailabilityFactory, ClientFactory

pytestmark = pytest.mark.django_db

IJBURGLAAN = (52.354, 5.003)  # about 7.6 km from Damrak, where the jobs below are


def profile_data(**changes):
    data = {
        "service_types": ["standard", "deep"],
        "working_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "service_radius_km": "10",
        "service_area_address": "IJburglaan 1",
        "service_area_city": "Amsterdam",
    }
    data.update(changes)
    return data


def profile_of(user) -> CleanerProfile:
    return CleanerProfile.objects.get(user=user)


def errors_of(response, field, form="form"):
    return response.context[form].errors.get(field, [])


# --- the page -------------------------------------------------------------------------


def test_the_nav_links_cleaners_to_their_profile(as_cleaner):
    body = as_cleaner.get("/board/").content.decode()
    assert '<a href="/profile/">Profile</a>' in body


def test_the_profile_shows_what_decides_the_offers(as_cleaner, cleaner):
    CleanerUnavailabilityFactory(cleaner=profile_of(cleaner), date=timezone.localdate() + timedelta(days=4))
    CleanerUnavailabilityFactory(cleaner=profile_of(cleaner), date=timezone.localdate() - timedelta(days=4))  # past
    response = as_cleaner.get("/profile/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<strong>You are verified.</strong>" in body
    assert "<strong>7 services</strong>" in body and "<strong>7 working days</strong>" in body
    assert "<strong>25 km</strong>" in body
    # Placed by coordinates only (as the demo seed does): named by the nearest known place.
    assert "a point near <strong>Jodenbreestraat, Centrum, Amsterdam</strong> (give an address below to set it by name)" in body
    assert len(response.context["days_off"]) == 1
    assert len(re.findall(r'<input type="checkbox"[^>]*', body)) == 14
    assert len(re.findall(r'<input type="checkbox"[^>]* checked', body)) == 14


def test_an_unverified_cleaner_is_told_why_no_offers_come(login):
    response = login(CleanerFactory(profile__is_verified=False)).get("/profile/")
    assert "<strong>You are not verified yet:</strong> you get no offers" in response.content.decode()
    assert 'name="is_verified"' not in response.content.decode()


def test_a_point_far_from_every_known_place_is_shown_as_coordinates(login):
    body = login(CleanerFactory(profile__latitude=48.8566, profile__longitude=2.3522)).get("/profile/").content.decode()
    assert "the point 48.8566, 2.3522 (give an address below to set it by name)" in body


def test_a_client_has_no_profile_page(as_client):
    response = as_client.get("/profile/")
    assert response.status_code == 302 and response["Location"] == "/jobs/mine/"
    with pytest.raises(ActionForbidden):
        cleaner_profiles.cleaner_profile_update(
            cleaner=ClientFactory(), service_types=frozenset(), working_days=frozenset(), service_radius_km=5,
            service_area_address="", service_area_city="",
        )


# --- changing it ----------------------------------------------------------------------


def test_saving_the_profile_geocodes_its_address(as_cleaner, cleaner):
    response = as_cleaner.post("/profile/", profile_data())
    assert response.status_code == 302 and response["Location"] == "/profile/"
    profile = profile_of(cleaner)
    assert (profile.latitude, profile.longitude) == IJBURGLAAN
    assert profile.service_radius_km == 10.0
    assert profile.service_types == frozenset({"standard", "deep"})
    assert (profile.service_area_address, profile.service_area_city) == ("IJburglaan 1", "Amsterdam")
    body = as_cleaner.get("/profile/").content.decode()
    assert "Profile saved." in body
    assert "<strong>10 km</strong> of\n      <strong>IJburglaan 1, Amsterdam</strong>" in body


def test_an_unknown_address_is_a_field_error_and_changes_nothing(as_cleaner, cleaner):
    response = as_cleaner.post("/profile/", profile_data(service_area_address="Nowhere Lane 9", service_radius_km="3"))
    assert response.status_code == 400
    assert errors_of(response, "service_area_address") == [
        "We could not find that address in Amsterdam: check the street or district name "
        "(a house number and postcode after it are fine)."
    ]
    profile = profile_of(cleaner)
    assert (profile.latitude, profile.longitude, profile.service_radius_km) == (52.3676, 4.9041, 25.0)


def test_a_profile_placed_by_coordinates_keeps_its_point_until_an_address_is_given(as_cleaner, cleaner):
    response = as_cleaner.post("/profile/", profile_data(service_area_address="", service_area_city="", service_radius_km="7"))
    assert response.status_code == 302
    profile = profile_of(cleaner)
    assert (profile.latitude, profile.longitude, profile.service_radius_km) == (52.3676, 4.9041, 7.0)


def test_clearing_an_address_once_given_is_refused(as_cleaner, cleaner):
    as_cleaner.post("/profile/", profile_data())
    response = as_cleaner.post("/profile/", profile_data(service_area_address=""))
    assert response.status_code == 400
    assert errors_of(response, "service_area_address") == ["Give the street or district your area is centred on."]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("service_radius_km", "0", "Ensure this value is greater than or equal to 0.1."),
        ("service_radius_km", "100.5", "Ensure this value is less than or equal to 100."),
        ("service_radius_km", "far", "Enter a number."),
        ("service_types", [], "This field is required."),
        ("working_days", [], "This field is required."),
        ("working_days", ["someday"], "Select a valid choice. someday is not one of the available choices."),
        ("service_area_address", "x" * 256, "Ensure this value has at most 255 characters (it has 256)."),
    ],
)
def test_limits_come_from_the_model_fields(as_cleaner, cleaner, field, value, message):
    response = as_cleaner.post("/profile/", profile_data(**{field: value}))
    assert response.status_code == 400
    assert errors_of(response, field) == [message]
    assert profile_of(cleaner).service_radius_km == 25.0


def test_the_radius_field_shows_the_model_limits(as_cleaner):
    body = as_cleaner.get("/profile/").content.decode()
    assert 'min="0.1"' in body and 'max="100"' in body
    assert "Between 0.1 and 100 km." in body


# --- days off -------------------------------------------------------------------------


def test_days_off_are_added_and_removed(as_cleaner, cleaner):
    day = timezone.localdate() + timedelta(days=5)
    response = as_cleaner.post("/profile/days-off/", {"day": day.isoformat()})
    assert response.status_code == 302
    as_cleaner.post("/profile/days-off/", {"day": day.isoformat()})  # twice: still one
    assert list(CleanerUnavailability.objects.filter(cleaner__user=cleaner).values_list("date", flat=True)) == [day]
    assert f'data-day-off="{day.isoformat()}"' in as_cleaner.get("/profile/").content.decode()

    response = as_cleaner.post("/profile/days-off/remove/", {"day": day.isoformat()})
    assert response.status_code == 302
    assert not CleanerUnavailability.objects.exists()
    assert "is a working day again." in as_cleaner.get("/profile/").content.decode()


def test_a_day_off_in_the_past_is_refused(as_cleaner):
    response = as_cleaner.post("/profile/days-off/", {"day": (timezone.localdate() - timedelta(days=1)).isoformat()})
    assert response.status_code == 400
    assert errors_of(response, "day", form="day_off_form") == ["A day off must be today or later."]
    assert not CleanerUnavailability.objects.exists()


# --- the next job follows the profile at once ----------------------------------------


@pytest.fixture
def post_job(login, django_capture_on_commit_callbacks):
    """post_job(**fields) -> the job a client posts through the page, its notifications sent."""
    client = login(ClientFactory())

    def post(service_type="deep", days=3):
        start = (timezone.localtime() + timedelta(days=days)).replace(hour=10, minute=0)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/jobs/new/", {
                "title": "Deep clean", "service_type": service_type, "address": "Damrak 1", "city": "Amsterdam",
                "scheduled_start": start.strftime("%Y-%m-%dT%H:%M"), "duration_hours": "3", "budget": "120",
            })
        assert response.status_code == 302
        return CleaningJob.objects.latest("id")

    return post


def offered(cleaner, job) -> bool:
    return Notification.objects.filter(recipient=cleaner, notification_type=NotificationType.JOB_CREATED, job=job).exists()


def test_a_smaller_radius_or_a_dropped_service_stops_offers_for_the_next_job(as_cleaner, cleaner, post_job):
    assert offered(cleaner, post_job())

    as_cleaner.post("/profile/", profile_data(service_radius_km="5"))  # IJburg is 7.6 km from Damrak
    assert not offered(cleaner, post_job())

    as_cleaner.post("/profile/", profile_data(service_radius_km="10"))
    assert offered(cleaner, post_job())

    as_cleaner.post("/profile/", profile_data(service_types=["standard"]))
    assert not offered(cleaner, post_job(service_type="deep"))
    assert offered(cleaner, post_job(service_type="standard"))


def test_a_day_off_stops_offers_for_jobs_that_day(as_cleaner, cleaner, post_job):
    day = timezone.localdate() + timedelta(days=4)
    as_cleaner.post("/profile/days-off/", {"day": day.isoformat()})
    assert not offered(cleaner, post_job(days=4))
    assert offered(cleaner, post_job(days=5))

    as_cleaner.post("/profile/days-off/remove/", {"day": day.isoformat()})
    assert offered(cleaner, post_job(days=4))
