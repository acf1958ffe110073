import pytest
from django.core.cache import cache
from rest_framework.test import APIClient


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, with notification partitions for the months tests travel to."""
    from tests.partitioning import partitions_for_time_travel

    with django_db_blocker.unblock():
        partitions_for_time_travel()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def api_as():
    """api_as(user) -> an APIClient authenticated as that user (session-less force auth)."""

    def make(user):
        client = APIClient()
        client.force_authenticate(user=user)
        return client

    return make


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2 is deliberately slow; tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def stream_database_threads_closed():
    # The streams' database threads keep their connections; a test's database must not outlive them.
    yield
    from notifications.sse import database

    database.threads.close()


@pytest.fixture(autouse=True)
def fresh_cache():
    # Throttle budgets and failed-login counts live in the cache: a test must not
    # inherit another's (every test logs in from 127.0.0.1).
    cache.clear()


@pytest.fixture
def throttle_rate(settings):
    """throttle_rate(scope, "1/min"): a tighter (or looser) rate for one test, with fresh counters."""

    def set_rate(scope, rate):
        rest = dict(settings.REST_FRAMEWORK)
        rest["DEFAULT_THROTTLE_RATES"] = {**rest["DEFAULT_THROTTLE_RATES"], scope: rate}
        settings.REST_FRAMEWORK = rest
        cache.clear()

    yield set_rate
    cache.clear()


@pytest.fixture
def chunked_path(settings):
    """Even a small audience takes the chunked path, for tests of chunks (bigger audiences take it anyway)."""
    settings.OUTBOX_DIRECT_MAX_RECIPIENTS = 0


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """run(fn, **kwargs): call a service and execute what it schedules on commit (tasks run in-process)."""

    def call(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return call
