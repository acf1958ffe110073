"""Authentication (token and session), the login throttle, and the OpenAPI schema."""

import pytest
from django.core.cache import cache
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from jobs.authentication import TokenAuthentication
from jobs.models import CleanerProfile
from jobs.selectors import cleaner_profile_of
from tests.factories import PASSWORD, CleanerFactory, CleaningJobFactory, ClientFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/auth/token/"

API_PATHS = [
    "/api/auth/token/",
    "/api/jobs/",
    "/api/jobs/{job_id}/",
    "/api/jobs/{job_id}/start/",
    "/api/jobs/{job_id}/complete/",
    "/api/jobs/{job_id}/cancel/",
    "/api/jobs/{job_id}/bids/",
    "/api/jobs/{job_id}/payments/",
    "/api/jobs/{job_id}/messages/",
    "/api/bids/{bid_id}/accept/",
    "/api/bids/{bid_id}/reject/",
    "/api/bids/{bid_id}/withdraw/",
]


@pytest.fixture(autouse=True)
def fresh_throttle_counters():
    # The login throttle counts per IP, and every test client is 127.0.0.1.
    cache.clear()
    yield
    cache.clear()


# --- token login ------------------------------------------------------------------


def test_login_returns_a_token_that_authenticates(api_client):
    user = ClientFactory()
    job = CleaningJobFactory(client=user)

    response = api_client.post(TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json")

    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=user).key == token

    authed = APIClient()
    authed.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    jobs = authed.get("/api/jobs/")
    assert jobs.status_code == 200
    assert [j["id"] for j in jobs.json()["results"]] == [job.pk]


def test_logging_in_twice_returns_the_same_token(api_client):
    user = ClientFactory()
    credentials = {"username": user.username, "password": PASSWORD}

    first = api_client.post(TOKEN_URL, credentials, format="json").json()["token"]
    second = api_client.post(TOKEN_URL, credentials, format="json").json()["token"]

    assert first == second
    assert Token.objects.count() == 1


def test_login_accepts_a_form_post(api_client):
    user = ClientFactory()

    response = api_client.post(TOKEN_URL, {"username": user.username, "password": PASSWORD})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(lambda user: {"username": user.username, "password": "wrong"}, id="wrong password"),
        pytest.param(lambda user: {"username": "nobody", "password": PASSWORD}, id="unknown user"),
        pytest.param(lambda user: {"username": user.username.upper(), "password": PASSWORD}, id="wrong case"),
    ],
)
def test_bad_credentials_are_400_without_a_token(api_client, credentials):
    user = ClientFactory()

    response = api_client.post(TOKEN_URL, credentials(user), format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"non_field_errors": ["Unable to log in with provided credentials."]}
    assert not Token.objects.exists()


def test_an_inactive_user_cannot_log_in(api_client):
    user = ClientFactory(is_active=False)

    response = api_client.post(TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json")

    assert response.status_code == 400
    assert not Token.objects.exists()


@pytest.mark.parametrize(
    "payload, errors",
    [
        ({}, {"username": ["This field is required."], "password": ["This field is required."]}),
        ({"username": "a"}, {"password": ["This field is required."]}),
        ({"username": "a\x00", "password": "b"}, {"username": ["Null characters are not allowed."]}),
        ({"username": "a", "password": "b\x00"}, {"password": ["Null characters are not allowed."]}),
        ({"username": ["a"], "password": "b"}, {"username": ["Not a valid string."]}),
        ({"username": None, "password": None},
         {"username": ["This field may not be null."], "password": ["This field may not be null."]}),
    ],
)
def test_malformed_credentials_are_field_errors(api_client, payload, errors):
    response = api_client.post(TOKEN_URL, payload, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == errors


def test_a_very_long_username_is_just_wrong_credentials(api_client):
    response = api_client.post(TOKEN_URL, {"username": "u" * 100_000, "password": "p" * 100_000}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"non_field_errors": ["Unable to log in with provided credentials."]}


@pytest.mark.parametrize("raw", ["{", "[]", "null", '"x"'])
def test_malformed_login_bodies_are_400(api_client, raw):
    response = api_client.post(TOKEN_URL, data=raw, content_type="application/json")

    assert response.status_code == 400
    assert set(response.json()) >= {"detail", "code"}


def test_login_is_throttled(api_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": "2/min"},
    }
    user = ClientFactory()
    wrong = {"username": user.username, "password": "guess"}

    statuses = [api_client.post(TOKEN_URL, wrong, format="json").status_code for _ in range(2)]
    # Even the right password is refused once the budget is spent: that is what stops guessing.
    response = api_client.post(TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json")

    assert statuses == [400, 400]
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 60
    assert not Token.objects.exists()


def test_a_stale_session_does_not_break_login():
    # A browser with a session cookie but no CSRF token must still be able to get a token.
    user = ClientFactory()
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)

    response = browser.post(TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json")

    assert response.status_code == 200


# --- other authentication ---------------------------------------------------------


def test_session_authentication_works(api_client):
    user = ClientFactory()
    CleaningJobFactory(client=user)
    assert api_client.login(username=user.username, password=PASSWORD)

    response = api_client.get("/api/jobs/")

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_session_writes_need_the_csrf_token():
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(ClientFactory())

    response = browser.post("/api/jobs/", {"title": "x"}, format="json")

    assert response.status_code == 403
    assert response.json()["detail"].startswith("CSRF Failed")


def test_an_invalid_token_is_refused(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = api_client.get("/api/jobs/")

    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid token.", "code": "authentication_failed"}


def test_the_token_of_an_inactive_user_is_refused(api_client):
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=ClientFactory(is_active=False)).key}")

    response = api_client.get("/api/jobs/")

    assert response.status_code == 403
    assert response.json() == {"detail": "User inactive or deleted.", "code": "authentication_failed"}


def test_the_token_comes_with_its_user_and_their_role_in_one_query(django_assert_num_queries):
    cleaner, client = CleanerFactory(), ClientFactory()
    for user, profile in ((cleaner, cleaner.cleaner_profile), (client, None)):
        key = Token.objects.create(user=user).key
        with django_assert_num_queries(1):
            authenticated, token = TokenAuthentication().authenticate_credentials(key)
            assert (authenticated.pk, authenticated.username, token.key) == (user.pk, user.username, key)
            assert cleaner_profile_of(user=authenticated) == profile
        if profile is not None:  # its fields converted from the database as the ORM does
            fresh = CleanerProfile.objects.get(pk=profile.pk)
            assert (authenticated.cleaner_profile.service_types, authenticated.cleaner_profile.working_days) == (
                fresh.service_types, fresh.working_days,
            )
            assert isinstance(fresh.service_types, frozenset)


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/api/jobs/"),
        ("post", "/api/jobs/"),
        ("get", "/api/jobs/1/"),
        ("post", "/api/jobs/1/start/"),
        ("post", "/api/jobs/1/complete/"),
        ("post", "/api/jobs/1/cancel/"),
        ("get", "/api/jobs/1/bids/"),
        ("post", "/api/jobs/1/bids/"),
        ("get", "/api/jobs/1/payments/"),
        ("post", "/api/jobs/1/payments/"),
        ("get", "/api/jobs/1/messages/"),
        ("post", "/api/jobs/1/messages/"),
        ("post", "/api/bids/1/accept/"),
        ("post", "/api/bids/1/reject/"),
        ("post", "/api/bids/1/withdraw/"),
    ],
)
def test_anonymous_requests_are_refused(api_client, method, url):
    response = getattr(api_client, method)(url, {}, format="json")

    # Session authentication comes first in settings, so DRF answers 403 rather than 401.
    assert response.status_code == 403
    assert response.json() == {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}


# --- OpenAPI schema ---------------------------------------------------------------


def test_schema_is_served_and_documents_every_endpoint(api_client):
    response = api_client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    for api_path in API_PATHS:
        assert api_path in paths
    assert set(paths["/api/jobs/{job_id}/bids/"]) == {"get", "post"}
    assert "402" in paths["/api/jobs/{job_id}/payments/"]["post"]["responses"]


def test_schema_generation_for_the_jobs_api_emits_no_warnings():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/", include("jobs.api_urls"))])

    schema = generator.get_schema(request=None, public=True)

    assert sorted(schema["paths"]) == sorted(API_PATHS)
    assert not GENERATOR_STATS._warn_cache
    assert not GENERATOR_STATS._error_cache
