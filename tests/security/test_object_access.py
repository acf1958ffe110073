"""Who may touch which object through the API, and how a caller proves who they are.

- Another user's job, bid, payment, message or notification is a 404, on every
  detail and action endpoint, with the very body an id that does not exist gets.
- In a browser session every write needs the CSRF token.
- An API token authenticates only in the Authorization header.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from jobs.models import BidStatus, CleaningJob, JobBid, JobStatus
from notifications.models import Notification, NotificationPreference
from tests.factories import (
    PASSWORD,
    CleanerFactory,
    CleaningJobFactory,
    ClientFactory,
    JobBidFactory,
    JobMessageFactory,
    PaymentFactory,
)
from tests.notifications.factories import NotificationFactory
from tests.security.conftest import row_counts

pytestmark = pytest.mark.django_db

UNKNOWN_ID = 987_654_321


def snapshot() -> dict:
    """Everything an API write could change."""
    return {
        "rows": row_counts(),
        "jobs": dict(CleaningJob.objects.values_list("pk", "status")),
        "bids": dict(JobBid.objects.values_list("pk", "status")),
        "read": dict(Notification.objects.values_list("pk", "is_read")),
        "muted": dict(NotificationPreference.objects.values_list("notification_type", "is_muted")),
    }


def job_payload() -> dict:
    return {
        "title": "Spring clean",
        "service_type": "deep",
        "address": "Damrak 1",
        "city": "Amsterdam",
        "latitude": 52.37,
        "longitude": 4.9,
        "scheduled_start": (timezone.now() + timedelta(days=2)).isoformat(),
        "duration_hours": "3.5",
        "budget": "150.00",
    }


# --- another user's objects are 404 -------------------------------------------------


@pytest.fixture
def world():
    """A client's assigned job with every kind of object on it, and people who have no part in them."""
    owner = ClientFactory()
    winner = CleanerFactory()
    rival = CleanerFactory()
    job = CleaningJobFactory(client=owner, status=JobStatus.ASSIGNED, assigned_cleaner=winner)
    accepted = JobBidFactory(job=job, cleaner=winner, status=BidStatus.ACCEPTED)
    pending = JobBidFactory(job=job, cleaner=rival, status=BidStatus.PENDING)
    PaymentFactory(job=job, payer=owner, payee=winner)
    JobMessageFactory(job=job, sender=owner, recipient=winner)
    # Outsiders: a client with a job of their own; a cleaner who would be eligible
    # for the job had it still been open (so only the rules hide it).
    other_client = ClientFactory()
    CleaningJobFactory(client=other_client)
    return {
        "owner": owner,
        "winner": winner,
        "rival": rival,
        "other client": other_client,
        "other cleaner": CleanerFactory(),
        "job": job,
        "accepted bid": accepted,
        "pending bid": pending,
        "note": NotificationFactory(recipient=owner),
        "winner's note": NotificationFactory(recipient=winner),
    }


JOB_NOT_FOUND = {"detail": "Job not found.", "code": "not_found"}
BID_NOT_FOUND = {"detail": "Bid not found.", "code": "not_found"}
NOTE_NOT_FOUND = {"detail": "No such notification.", "code": "not_found"}

# (method, url with {id}, the object it names, a body, the 404 body)
ENDPOINTS = [
    ("get", "/api/jobs/{id}/", "job", None, JOB_NOT_FOUND),
    ("post", "/api/jobs/{id}/start/", "job", None, JOB_NOT_FOUND),
    ("post", "/api/jobs/{id}/complete/", "job", None, JOB_NOT_FOUND),
    ("post", "/api/jobs/{id}/cancel/", "job", None, JOB_NOT_FOUND),
    ("get", "/api/jobs/{id}/bids/", "job", None, JOB_NOT_FOUND),
    ("post", "/api/jobs/{id}/bids/", "job", {"amount": "90.00"}, JOB_NOT_FOUND),
    ("get", "/api/jobs/{id}/payments/", "job", None, JOB_NOT_FOUND),
    ("post", "/api/jobs/{id}/payments/", "job", {}, JOB_NOT_FOUND),
    ("get", "/api/jobs/{id}/messages/", "job", None, JOB_NOT_FOUND),
    ("post", "/api/jobs/{id}/messages/", "job", {"body": "Hello"}, JOB_NOT_FOUND),
    ("post", "/api/bids/{id}/accept/", "pending bid", None, BID_NOT_FOUND),
    ("post", "/api/bids/{id}/reject/", "pending bid", None, BID_NOT_FOUND),
    ("post", "/api/bids/{id}/withdraw/", "pending bid", None, BID_NOT_FOUND),
    ("post", "/api/bids/{id}/accept/", "accepted bid", None, BID_NOT_FOUND),
    ("post", "/api/bids/{id}/withdraw/", "accepted bid", None, BID_NOT_FOUND),
    ("post", "/api/notifications/{id}/read/", "note", None, NOTE_NOT_FOUND),
]

# Who is a stranger to which object (the rival bids on the job, so sees it, but
# not the winner's bid; the winner sees the job but not the rival's bid; nobody
# sees another's notification).
STRANGERS = {
    "job": ["other client", "other cleaner"],
    "pending bid": ["other client", "other cleaner", "winner"],
    "accepted bid": ["other client", "other cleaner", "rival"],
    "note": ["other client", "other cleaner", "winner", "rival"],
}

CASES = [
    pytest.param(method, url, obj, body, expected, who, id=f"{who} {method.upper()} {url.format(id=obj)}")
    for method, url, obj, body, expected in ENDPOINTS
    for who in STRANGERS[obj]
]


@pytest.mark.parametrize("method, url, obj, body, expected, who", CASES)
def test_another_users_object_is_404_exactly_like_a_missing_one(api_as, world, method, url, obj, body, expected, who):
    api = api_as(world[who])
    before = snapshot()

    response = getattr(api, method)(url.format(id=world[obj].pk), body, format="json")
    missing = getattr(api, method)(url.format(id=UNKNOWN_ID), body, format="json")

    assert response.status_code == 404
    assert response.json() == expected
    # Same status, same body: an id that exists but is someone else's tells nothing.
    assert (missing.status_code, missing.json()) == (404, expected)
    assert snapshot() == before


def test_a_bidder_sees_neither_the_other_bids_nor_the_payments_or_messages_between_others(api_as, world):
    api = api_as(world["rival"])
    job = world["job"].pk

    bids = api.get(f"/api/jobs/{job}/bids/").json()
    payments = api.get(f"/api/jobs/{job}/payments/").json()
    messages = api.get(f"/api/jobs/{job}/messages/").json()

    assert [b["id"] for b in bids["results"]] == [world["pending bid"].pk]
    assert payments["count"] == 0 and payments["results"] == []
    assert messages["count"] == 0 and messages["results"] == []


def test_another_users_notifications_never_appear_in_lists_or_counts(api_as, world):
    api = api_as(world["other client"])

    assert api.get("/api/notifications/").json()["count"] == 0
    assert api.get("/api/notifications/unread-count/").json() == {"count": 0}
    assert api.post("/api/notifications/read-all/").json() == {"marked_read": 0}
    assert set(Notification.objects.values_list("is_read", flat=True)) == {False}


# --- CSRF on every write in a session ------------------------------------------------


def _open_job_with_bid():
    bid = JobBidFactory(job=CleaningJobFactory())
    return bid.job, bid


def _assigned(status):
    cleaner = CleanerFactory()
    job = CleaningJobFactory(status=status, assigned_cleaner=cleaner)
    JobBidFactory(job=job, cleaner=cleaner, status=BidStatus.ACCEPTED)
    return job, cleaner


def case_job_create():
    return ClientFactory(), "post", "/api/jobs/", job_payload(), 201


def case_bid_place():
    return CleanerFactory(), "post", f"/api/jobs/{CleaningJobFactory().pk}/bids/", {"amount": "90.00"}, 201


def case_payment():
    job, _ = _assigned(JobStatus.COMPLETED)
    return job.client, "post", f"/api/jobs/{job.pk}/payments/", {}, 201


def case_message():
    job, bid = _open_job_with_bid()
    return bid.cleaner, "post", f"/api/jobs/{job.pk}/messages/", {"body": "Hello"}, 201


def case_job_start():
    job, cleaner = _assigned(JobStatus.ASSIGNED)
    return cleaner, "post", f"/api/jobs/{job.pk}/start/", None, 200


def case_job_complete():
    job, cleaner = _assigned(JobStatus.IN_PROGRESS)
    return cleaner, "post", f"/api/jobs/{job.pk}/complete/", None, 200


def case_job_cancel():
    job = CleaningJobFactory()
    return job.client, "post", f"/api/jobs/{job.pk}/cancel/", None, 200


def case_bid_accept():
    job, bid = _open_job_with_bid()
    return job.client, "post", f"/api/bids/{bid.pk}/accept/", None, 200


def case_bid_reject():
    job, bid = _open_job_with_bid()
    return job.client, "post", f"/api/bids/{bid.pk}/reject/", None, 200


def case_bid_withdraw():
    _, bid = _open_job_with_bid()
    return bid.cleaner, "post", f"/api/bids/{bid.pk}/withdraw/", None, 200


def case_notification_read():
    note = NotificationFactory(recipient=ClientFactory())
    return note.recipient, "post", f"/api/notifications/{note.pk}/read/", None, 200


def case_read_all():
    note = NotificationFactory(recipient=ClientFactory())
    return note.recipient, "post", "/api/notifications/read-all/", None, 200


def case_preferences():
    return ClientFactory(), "put", "/api/notifications/preferences/", {"muted": {"job_created": True}}, 200


WRITES = [
    case_job_create, case_bid_place, case_payment, case_message, case_job_start, case_job_complete,
    case_job_cancel, case_bid_accept, case_bid_reject, case_bid_withdraw, case_notification_read,
    case_read_all, case_preferences,
]


def session_browser(user) -> APIClient:
    """A browser logged in with a real session, which DRF holds to CSRF."""
    browser = APIClient(enforce_csrf_checks=True)
    assert browser.login(username=user.username, password=PASSWORD)
    return browser


def csrf_cookie(browser) -> str:
    # Any page with a form sets the cookie; the admin login page is always there.
    browser.get("/admin/login/")
    return browser.cookies["csrftoken"].value


@pytest.mark.parametrize("case", WRITES, ids=lambda case: case.__name__.removeprefix("case_"))
def test_every_session_write_needs_the_csrf_token(case):
    user, method, url, body, success = case()
    browser = session_browser(user)
    send = getattr(browser, method)
    before = snapshot()

    no_cookie = send(url, body, format="json")
    token = csrf_cookie(browser)
    no_header = send(url, body, format="json")
    wrong_header = send(url, body, format="json", HTTP_X_CSRFTOKEN="x" * 32)

    assert (no_cookie.status_code, no_cookie.json()) == (
        403, {"detail": "CSRF Failed: CSRF cookie not set.", "code": "permission_denied"})
    assert (no_header.status_code, no_header.json()) == (
        403, {"detail": "CSRF Failed: CSRF token missing.", "code": "permission_denied"})
    assert (wrong_header.status_code, wrong_header.json()) == (
        403, {"detail": "CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header incorrect.",
                "code": "permission_denied"})
    assert snapshot() == before

    response = send(url, body, format="json", HTTP_X_CSRFTOKEN=token)

    assert response.status_code == success, response.json()
    assert snapshot() != before


def test_a_cross_site_origin_is_refused_even_with_the_token():
    user, method, url, body, _ = case_job_create()
    browser = session_browser(user)
    token = csrf_cookie(browser)

    response = browser.post(
        url, body, format="json", HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="https://evil.example", secure=True
    )

    assert response.status_code == 403
    assert response.json()["detail"] == "CSRF Failed: Origin checking failed - https://evil.example does not match any trusted origins."
    assert not CleaningJob.objects.exists()


def test_a_token_header_does_not_excuse_a_session_from_csrf():
    # A page script that also sends a token still rides the session, so CSRF still applies.
    user = ClientFactory()
    browser = session_browser(user)
    key = Token.objects.create(user=user).key

    response = browser.post("/api/jobs/", job_payload(), format="json", HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 403
    assert response.json()["detail"] == "CSRF Failed: CSRF cookie not set."
    assert not CleaningJob.objects.exists()


# --- tokens only in the Authorization header ----------------------------------------


NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}


def _misplaced_tokens():
    """(id, how to send the key): every place a token must NOT be read from."""
    return [
        ("query token", lambda key: {"query": {"token": key}}),
        ("query auth_token", lambda key: {"query": {"auth_token": key}}),
        ("query access_token", lambda key: {"query": {"access_token": key}}),
        ("query key", lambda key: {"query": {"key": key}}),
        ("query Authorization", lambda key: {"query": {"Authorization": f"Token {key}"}}),
        ("body token", lambda key: {"body": {"token": key}}),
        ("body auth_token", lambda key: {"body": {"auth_token": key}}),
        ("body Authorization", lambda key: {"body": {"Authorization": f"Token {key}"}}),
        ("cookie token", lambda key: {"cookies": {"token": key}}),
        ("cookie auth_token", lambda key: {"cookies": {"auth_token": key}}),
        ("cookie sessionid", lambda key: {"cookies": {"sessionid": key}}),
        ("header X-Auth-Token", lambda key: {"headers": {"HTTP_X_AUTH_TOKEN": key}}),
        ("header Token", lambda key: {"headers": {"HTTP_TOKEN": key}}),
        ("header X-Authorization", lambda key: {"headers": {"HTTP_X_AUTHORIZATION": f"Token {key}"}}),
        ("Authorization Bearer", lambda key: {"headers": {"HTTP_AUTHORIZATION": f"Bearer {key}"}}),
        ("Authorization bare key", lambda key: {"headers": {"HTTP_AUTHORIZATION": key}}),
        ("Authorization Basic", lambda key: {"headers": {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}}),
    ]


def _send(method, url, key, place):
    sent = place(key)
    api = APIClient()
    for name, value in sent.get("cookies", {}).items():
        api.cookies[name] = value
    query = "&".join(f"{k}={v.replace(' ', '+')}" for k, v in sent.get("query", {}).items())
    full_url = f"{url}?{query}" if query else url
    body = {**(job_payload() if method == "post" else {}), **sent.get("body", {})}
    return getattr(api, method)(full_url, body or None, format="json", **sent.get("headers", {}))


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("where, place", _misplaced_tokens(), ids=[name for name, _ in _misplaced_tokens()])
def test_a_token_anywhere_but_the_authorization_header_does_not_authenticate(method, where, place):
    user = ClientFactory()
    CleaningJobFactory(client=user)
    key = Token.objects.create(user=user).key
    before = row_counts()

    response = _send(method, "/api/jobs/", key, place)

    assert response.status_code == 403
    assert response.json() == NOT_AUTHENTICATED
    assert row_counts() == before


@pytest.mark.parametrize("method, success", [("get", 200), ("post", 201)])
def test_the_same_token_in_the_authorization_header_works(method, success):
    user = ClientFactory()
    key = Token.objects.create(user=user).key

    response = _send(method, "/api/jobs/", key, lambda key: {"headers": {"HTTP_AUTHORIZATION": f"Token {key}"}})

    assert response.status_code == success
    assert CleaningJob.objects.filter(client=user).count() == (1 if method == "post" else 0)


def test_a_deactivated_users_token_stops_working():
    user = ClientFactory()
    key = Token.objects.create(user=user).key
    user.is_active = False
    user.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    response = api.get("/api/jobs/")

    assert response.status_code == 403
    assert response.json() == {"detail": "User inactive or deleted.", "code": "authentication_failed"}
