"""The jobs endpoints: list, filter, create, detail and the start/complete/cancel transitions."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import BidStatus, CleaningJob, JobStatus, ServiceType
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory, JobBidFactory

pytestmark = pytest.mark.django_db

JOBS = "/api/jobs/"


def job_url(job_id, action=""):
    return f"{JOBS}{job_id}/{action + '/' if action else ''}"


def post_json(client, url, raw: str):
    """POST a raw body, so tests can send JSON that json.dumps would never produce."""
    return client.post(url, data=raw, content_type="application/json")


def valid_job_payload(**changes):
    payload = {
        "title": "Spring clean",
        "description": "Three rooms.",
        "service_type": "deep",
        "address": "Damrak 1",
        "city": "Amsterdam",
        "latitude": 52.37,
        "longitude": 4.9,
        "scheduled_start": (timezone.now() + timedelta(days=2)).isoformat(),
        "duration_hours": "3.5",
        "budget": "150.00",
    }
    payload.update(changes)
    return payload


# --- list -------------------------------------------------------------------------


def test_client_lists_only_their_own_jobs(api_as):
    client = ClientFactory()
    mine = CleaningJobFactory(client=client)
    CleaningJobFactory()  # another client's

    response = api_as(client).get(JOBS)

    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert [job["id"] for job in response.json()["results"]] == [mine.pk]


def test_cleaner_lists_their_board_and_the_jobs_they_are_involved_in(api_as):
    cleaner = CleanerFactory(profile__service_types=frozenset({ServiceType.STANDARD}))
    on_board = CleaningJobFactory()
    held = CleaningJobFactory(status=JobStatus.IN_PROGRESS, assigned_cleaner=cleaner)
    bid_on = CleaningJobFactory(status=JobStatus.CANCELLED)
    JobBidFactory(job=bid_on, cleaner=cleaner, status=BidStatus.REJECTED)
    CleaningJobFactory(service_type=ServiceType.CARPET)  # a service they do not offer
    CleaningJobFactory(latitude=48.85, longitude=2.35)  # out of their radius
    CleaningJobFactory(status=JobStatus.ASSIGNED)  # someone else's assignment

    response = api_as(cleaner).get(JOBS)

    assert response.status_code == 200
    assert {job["id"] for job in response.json()["results"]} == {on_board.pk, held.pk, bid_on.pk}


def test_list_filters_by_status_and_service_type(api_as):
    client = ClientFactory()
    open_deep = CleaningJobFactory(client=client, service_type=ServiceType.DEEP)
    CleaningJobFactory(client=client, service_type=ServiceType.STANDARD)
    CleaningJobFactory(client=client, service_type=ServiceType.DEEP, status=JobStatus.CANCELLED)

    response = api_as(client).get(JOBS, {"status": "open", "service_type": "deep"})

    assert response.status_code == 200
    assert [job["id"] for job in response.json()["results"]] == [open_deep.pk]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"status": "archived"}, "status"),
        ({"service_type": "laundry"}, "service_type"),
        ({"status": "open\x00"}, "status"),
        ({"service_type": "x" * 5000}, "service_type"),
    ],
)
def test_list_rejects_unknown_filter_values(api_as, params, field):
    response = api_as(ClientFactory()).get(JOBS, params)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "is not a valid choice" in body["errors"][field][0]


def test_list_is_paginated(api_as):
    client = ClientFactory()
    CleaningJobFactory.create_batch(21, client=client)
    api = api_as(client)

    first = api.get(JOBS).json()
    second = api.get(JOBS, {"page": 2}).json()

    assert first["count"] == 21
    assert len(first["results"]) == 20
    assert first["next"].endswith("?page=2")
    assert len(second["results"]) == 1
    assert second["next"] is None


@pytest.mark.parametrize("page", ["abc", "99", "-1", "1e309"])
def test_list_answers_a_bad_page_with_404(api_as, page):
    CleaningJobFactory()
    response = api_as(ClientFactory()).get(JOBS, {"page": page})

    assert response.status_code == 404
    assert response.json()["detail"] == "Invalid page."


# --- create -----------------------------------------------------------------------


def test_client_posts_a_job(api_as):
    client = ClientFactory()

    response = api_as(client).post(JOBS, valid_job_payload(), format="json")

    assert response.status_code == 201
    body = response.json()
    job = CleaningJob.objects.get()
    assert body["id"] == job.pk
    assert body["status"] == "open"
    assert body["budget"] == "150.00"
    assert body["duration_hours"] == "3.5"
    assert job.client == client
    assert job.title == "Spring clean"


def test_a_form_encoded_job_is_accepted_too(api_as):
    response = api_as(ClientFactory()).post(JOBS, valid_job_payload(), format="multipart")

    assert response.status_code == 201
    assert CleaningJob.objects.count() == 1


def test_description_is_optional(api_as):
    payload = valid_job_payload()
    del payload["description"]

    response = api_as(ClientFactory()).post(JOBS, payload, format="json")

    assert response.status_code == 201
    assert CleaningJob.objects.get().description == ""


def test_cleaner_cannot_post_a_job(api_as):
    response = api_as(CleanerFactory()).post(JOBS, valid_job_payload(), format="json")

    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only clients can do this; cleaners bid on jobs instead.",
        "code": "forbidden",
    }
    assert not CleaningJob.objects.exists()


def test_start_in_the_past_is_a_field_error(api_as):
    past = (timezone.now() - timedelta(hours=1)).isoformat()

    response = api_as(ClientFactory()).post(JOBS, valid_job_payload(scheduled_start=past), format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"scheduled_start": ["The start must be in the future."]}
    assert not CleaningJob.objects.exists()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("title", "", "This field may not be blank."),
        ("title", "   ", "This field may not be blank."),
        ("title", "x" * 121, "Ensure this field has no more than 120 characters."),
        ("title", "Clean\x00up", "Null characters are not allowed."),
        ("title", ["a list"], "Not a valid string."),
        ("title", {"an": "object"}, "Not a valid string."),
        ("title", None, "This field may not be null."),
        ("title", True, "Not a valid string."),
        ("description", "x" * 4001, "Ensure this field has no more than 4000 characters."),
        ("description", "\x00", "Null characters are not allowed."),
        ("service_type", "laundry", '"laundry" is not a valid choice.'),
        ("service_type", ["deep"], "is not a valid choice."),
        ("address", "x" * 256, "Ensure this field has no more than 255 characters."),
        ("city", "Amster\x00dam", "Null characters are not allowed."),
        ("latitude", "north", "A valid number is required."),
        ("latitude", 90.5, "Ensure this value is less than or equal to 90."),
        ("latitude", -91, "Ensure this value is greater than or equal to -90."),
        ("latitude", "NaN", "A valid number is required."),
        ("latitude", "Infinity", "A valid number is required."),
        ("latitude", 10**400, "Integer value too large to convert to float"),
        ("latitude", [52.3], "A valid number is required."),
        ("longitude", 180.01, "Ensure this value is less than or equal to 180."),
        ("longitude", None, "This field may not be null."),
        ("scheduled_start", "tomorrow", "Datetime has wrong format."),
        ("scheduled_start", "2030-02-30T10:00:00Z", "Datetime has wrong format."),
        ("scheduled_start", "0001-01-01T00:00:00+05:00", "Datetime value out of range."),
        ("scheduled_start", "9999-12-31T23:59:59-05:00", "Datetime value out of range."),
        ("scheduled_start", 1893456000, "Datetime has wrong format."),
        ("duration_hours", "0.4", "Ensure this value is greater than or equal to 0.5."),
        ("duration_hours", "72.5", "Ensure this value is less than or equal to 72."),
        ("duration_hours", "1.25", "Ensure that there are no more than 1 decimal places."),
        ("duration_hours", "three", "A valid number is required."),
        ("budget", "0.99", "Ensure this value is greater than or equal to 1."),
        ("budget", "100000.01", "Ensure this value is less than or equal to 100000.00."),
        ("budget", 10**30, "Ensure that there are no more than 9 digits in total."),
        ("budget", "1e309", "Ensure that there are no more than 9 digits in total."),
        ("budget", "NaN", "A valid number is required."),
        ("budget", "-Infinity", "A valid number is required."),
        ("budget", "12.345", "Ensure that there are no more than 2 decimal places."),
        ("budget", {"amount": 10}, "A valid number is required."),
        ("budget", "9" * 5000, "String value too large."),
    ],
)
def test_invalid_job_fields_are_field_errors(api_as, field, value, message):
    response = api_as(ClientFactory()).post(JOBS, valid_job_payload(**{field: value}), format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Invalid input."
    assert body["code"] == "invalid"
    assert list(body["errors"]) == [field]
    assert message in body["errors"][field][0]
    assert not CleaningJob.objects.exists()


@pytest.mark.parametrize("field", ["title", "service_type", "address", "city", "scheduled_start", "duration_hours",
                                   "budget"])
def test_missing_required_job_field_is_a_field_error(api_as, field):
    payload = valid_job_payload()
    del payload[field]

    response = api_as(ClientFactory()).post(JOBS, payload, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {field: ["This field is required."]}


def test_a_job_with_an_address_and_no_coordinates_is_placed_by_the_geocoder(api_as):
    payload = valid_job_payload(address="Albert Cuypstraat 180", city="Amsterdam")
    del payload["latitude"], payload["longitude"]

    response = api_as(ClientFactory()).post(JOBS, payload, format="json")

    assert response.status_code == 201
    assert (response.json()["latitude"], response.json()["longitude"]) == (52.3558, 4.8942)
    assert (CleaningJob.objects.get().latitude, CleaningJob.objects.get().longitude) == (52.3558, 4.8942)


def test_coordinates_given_are_kept_whatever_the_address(api_as):
    response = api_as(ClientFactory()).post(JOBS, valid_job_payload(address="Gate 7, the harbour"), format="json")

    assert response.status_code == 201
    assert (response.json()["latitude"], response.json()["longitude"]) == (52.37, 4.9)


def test_an_address_alone_that_cannot_be_found_is_a_field_error(api_as):
    payload = valid_job_payload(address="Nowhere Lane 9")
    del payload["latitude"], payload["longitude"]

    response = api_as(ClientFactory()).post(JOBS, payload, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "address": [
            "We could not find that address in Amsterdam: check the street or district name "
            "(a house number and postcode after it are fine)."
        ]
    }
    assert not CleaningJob.objects.exists()


@pytest.mark.parametrize("given, missing", [("latitude", "longitude"), ("longitude", "latitude")])
def test_half_a_coordinate_is_a_field_error(api_as, given, missing):
    payload = valid_job_payload()
    del payload[missing]

    response = api_as(ClientFactory()).post(JOBS, payload, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {
        missing: ["Give both latitude and longitude, or neither to have the address looked up."]
    }
    assert not CleaningJob.objects.exists()


@pytest.mark.parametrize("number", ["1e309", "-1e309"])
def test_json_numbers_too_big_for_a_float_are_field_errors(api_as, number):
    # Python's JSON parser turns these into infinities; the field refuses them.
    raw = json.dumps(valid_job_payload()).replace('"latitude": 52.37', f'"latitude": {number}')

    response = post_json(api_as(ClientFactory()), JOBS, raw)

    assert response.status_code == 400
    assert response.json()["errors"] == {"latitude": ["A valid number is required."]}
    assert not CleaningJob.objects.exists()


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_json_constants_are_parse_errors(api_as, number):
    raw = json.dumps(valid_job_payload()).replace('"latitude": 52.37', f'"latitude": {number}')

    response = post_json(api_as(ClientFactory()), JOBS, raw)

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"JSON parse error - Out of range float values are not JSON compliant: '{number}'",
        "code": "parse_error",
    }
    assert not CleaningJob.objects.exists()


@pytest.mark.parametrize(
    "raw, code",
    [
        ('{"title": "Spring clean",', "parse_error"),
        ("not json at all", "parse_error"),
        ('"just a string"', "invalid"),
        ("[1, 2, 3]", "invalid"),
        ("null", "invalid"),
        ("", "invalid"),
        ('{"title": "\\u0000"}', "invalid"),
        (b'{"title": "\xff"}', "parse_error"),
    ],
)
def test_malformed_bodies_are_400(api_as, raw, code):
    response = post_json(api_as(ClientFactory()), JOBS, raw)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not CleaningJob.objects.exists()


def test_a_body_over_the_upload_limit_is_413(api_as, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    raw = json.dumps(valid_job_payload(description="x" * 20_000))

    response = post_json(api_as(ClientFactory()), JOBS, raw)

    # Refused on its size (project/middleware.py) before any parsing; the field limit never runs.
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert not CleaningJob.objects.exists()


def test_a_long_string_under_the_upload_limit_is_a_field_error(api_as):
    response = api_as(ClientFactory()).post(JOBS, valid_job_payload(title="x" * 200_000), format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"title": ["Ensure this field has no more than 120 characters."]}


def test_an_unsupported_content_type_is_415(api_as):
    response = api_as(ClientFactory()).post(JOBS, data="<job/>", content_type="application/xml")

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_job_creation_is_throttled_but_listing_is_not(api_as, throttle_rate):
    throttle_rate("job_create", "1/min")
    api = api_as(ClientFactory())

    assert api.post(JOBS, valid_job_payload(), format="json").status_code == 201
    response = api.post(JOBS, valid_job_payload(), format="json")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 60
    assert CleaningJob.objects.count() == 1
    assert api.get(JOBS).status_code == 200


# --- detail -----------------------------------------------------------------------


def test_client_gets_their_job(api_as):
    job = CleaningJobFactory()

    response = api_as(job.client).get(job_url(job.pk))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == job.pk
    assert body["client"] == job.client_id
    assert body["title"] == job.title
    assert body["assigned_cleaner"] is None


def test_eligible_cleaner_gets_an_open_job(api_as):
    job = CleaningJobFactory()

    assert api_as(CleanerFactory()).get(job_url(job.pk)).status_code == 200


@pytest.mark.parametrize(
    "viewer",
    [
        pytest.param(lambda: ClientFactory(), id="another client"),
        pytest.param(lambda: CleanerFactory(profile__service_types=frozenset({"carpet"})), id="ineligible cleaner"),
        pytest.param(lambda: CleanerFactory(profile__is_verified=False), id="unverified cleaner"),
    ],
)
def test_a_job_the_user_may_not_see_is_404(api_as, viewer):
    job = CleaningJobFactory()

    response = api_as(viewer()).get(job_url(job.pk))

    assert response.status_code == 404
    assert response.json() == {"detail": "Job not found.", "code": "not_found"}


@pytest.mark.parametrize("job_id", ["0", "987654321", str(10**30)])
def test_an_unknown_job_is_404(api_as, job_id):
    assert api_as(ClientFactory()).get(f"{JOBS}{job_id}/").status_code == 404


@pytest.mark.parametrize("job_id", ["abc", "1.5", "-1", "%00"])
def test_a_non_numeric_job_id_is_404(api_as, job_id):
    assert api_as(ClientFactory()).get(f"{JOBS}{job_id}/").status_code == 404


# --- transitions ------------------------------------------------------------------


def test_assigned_cleaner_starts_then_completes_the_job(api_as):
    cleaner = CleanerFactory()
    job = CleaningJobFactory(status=JobStatus.ASSIGNED, assigned_cleaner=cleaner)
    api = api_as(cleaner)

    started = api.post(job_url(job.pk, "start"))
    completed = api.post(job_url(job.pk, "complete"))

    assert started.status_code == 200
    assert started.json()["status"] == "in_progress"
    assert completed.status_code == 200
    assert completed.json()["status"] == "completed"
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED


def test_client_cancels_an_open_job_and_its_pending_bids_are_rejected(api_as):
    job = CleaningJobFactory()
    bid = JobBidFactory(job=job)

    response = api_as(job.client).post(job_url(job.pk, "cancel"))

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    bid.refresh_from_db()
    assert bid.status == BidStatus.REJECTED


@pytest.mark.parametrize(
    "action, status, message",
    [
        ("start", JobStatus.IN_PROGRESS, "A job that is in progress cannot be started."),
        ("start", JobStatus.COMPLETED, "A job that is completed cannot be started."),
        ("complete", JobStatus.ASSIGNED, "A job that is assigned cannot be completed."),
        ("complete", JobStatus.CANCELLED, "A job that is cancelled cannot be completed."),
    ],
)
def test_cleaner_transition_from_a_wrong_state_is_409(api_as, action, status, message):
    cleaner = CleanerFactory()
    job = CleaningJobFactory(status=status, assigned_cleaner=cleaner)

    response = api_as(cleaner).post(job_url(job.pk, action))

    assert response.status_code == 409
    assert response.json() == {"detail": message, "code": "conflict"}
    job.refresh_from_db()
    assert job.status == status


@pytest.mark.parametrize("status", [JobStatus.IN_PROGRESS, JobStatus.COMPLETED, JobStatus.CANCELLED])
def test_cancelling_a_job_past_assignment_is_409(api_as, status):
    job = CleaningJobFactory(status=status, assigned_cleaner=CleanerFactory())

    response = api_as(job.client).post(job_url(job.pk, "cancel"))

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    job.refresh_from_db()
    assert job.status == status


@pytest.mark.parametrize(
    "action, message",
    [
        ("start", "Only the cleaner assigned to this job can start it."),
        ("complete", "Only the cleaner assigned to this job can complete it."),
    ],
)
def test_client_cannot_do_the_cleaners_transitions(api_as, action, message):
    job = CleaningJobFactory(status=JobStatus.ASSIGNED, assigned_cleaner=CleanerFactory())

    response = api_as(job.client).post(job_url(job.pk, action))

    assert response.status_code == 403
    assert response.json() == {"detail": message, "code": "forbidden"}


def test_a_cleaner_who_only_sees_the_job_on_their_board_cannot_start_it(api_as):
    job = CleaningJobFactory()

    response = api_as(CleanerFactory()).post(job_url(job.pk, "start"))

    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.OPEN


def test_assigned_cleaner_cannot_cancel(api_as):
    cleaner = CleanerFactory()
    job = CleaningJobFactory(status=JobStatus.ASSIGNED, assigned_cleaner=cleaner)

    response = api_as(cleaner).post(job_url(job.pk, "cancel"))

    assert response.status_code == 403
    assert response.json()["detail"] == "Only the client who posted this job can cancel it."
    job.refresh_from_db()
    assert job.status == JobStatus.ASSIGNED


@pytest.mark.parametrize("action", ["start", "complete", "cancel"])
def test_transitions_on_an_invisible_job_are_404(api_as, action):
    job = CleaningJobFactory(status=JobStatus.ASSIGNED, assigned_cleaner=CleanerFactory())

    response = api_as(ClientFactory()).post(job_url(job.pk, action))

    assert response.status_code == 404
    job.refresh_from_db()
    assert job.status == JobStatus.ASSIGNED


@pytest.mark.parametrize("action", ["start", "complete", "cancel"])
def test_transitions_do_not_allow_get(api_as, action):
    job = CleaningJobFactory()

    response = api_as(job.client).get(job_url(job.pk, action))

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
