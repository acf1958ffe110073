"""A fuzz run of the OpenAPI schema with schemathesis: nothing anybody sends makes an endpoint answer 500.

Every operation in /api/schema/ gets schema-valid and schema-violating requests
(schemathesis' coverage and fuzzing phases, positive and negative data, at most
25 fuzzed examples per operation, derandomized so CI runs the same cases every
time), sent through the real WSGI application with every middleware, as a client
and as a cleaner who own data. Small generated ids are mapped onto real objects
(the caller's and a stranger's), so the requests reach past the 404s into the
state checks and the services. The only check is `not_a_server_error`.
"""

from collections import Counter

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from jobs.models import BidStatus, JobStatus
from tests.factories import (
    CleanerFactory,
    CleaningJobFactory,
    ClientFactory,
    JobBidFactory,
    JobMessageFactory,
    PaymentFactory,
)
from tests.notifications.factories import NotificationFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=25, deterministic=True
)

# Real ids the generated small integers are mapped onto, per path parameter; set per test.
OWNED: dict[str, list[int]] = {}
REQUESTS: Counter = Counter()
STATUSES: Counter = Counter()


@schema.hook
def map_path_parameters(context, path_parameters):
    for name, value in (path_parameters or {}).items():
        ids = OWNED.get(name)
        if ids and isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10_000:
            path_parameters[name] = ids[value % len(ids)]
    return path_parameters


@pytest.fixture
def wsgi_keeps_the_test_connection():
    # The WSGI handler closes the database connection after each request; under
    # pytest-django that is the test's own transaction (Django's test client
    # disconnects the same two receivers).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def marketplace(db, settings, wsgi_keeps_the_test_connection):
    """A client and a cleaner with jobs in every state, bids, payments, messages and notifications."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {scope: "100000/min" for scope in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]},
    }
    cache.clear()
    client, cleaner = ClientFactory(), CleanerFactory()
    jobs = [CleaningJobFactory(client=client)]
    bids = [JobBidFactory(job=jobs[0], cleaner=cleaner), JobBidFactory(job=jobs[0])]
    for status in (JobStatus.ASSIGNED, JobStatus.IN_PROGRESS, JobStatus.COMPLETED, JobStatus.CANCELLED):
        job = CleaningJobFactory(client=client, status=status, assigned_cleaner=cleaner)
        bids.append(JobBidFactory(job=job, cleaner=cleaner, status=BidStatus.ACCEPTED))
        jobs.append(job)
    PaymentFactory(job=jobs[3], payer=client, payee=cleaner)
    JobMessageFactory(job=jobs[0], sender=client, recipient=cleaner)
    JobMessageFactory(job=jobs[0], sender=cleaner, recipient=client)
    strangers_job = CleaningJobFactory()
    notes = [NotificationFactory(recipient=user) for user in (client, client, cleaner, ClientFactory())]
    OWNED.clear()
    OWNED.update(
        job_id=[job.pk for job in jobs] + [strangers_job.pk],
        bid_id=[bid.pk for bid in bids] + [JobBidFactory(job=strangers_job).pk],
        notification_id=[note.pk for note in notes],
    )
    yield {"client": client, "cleaner": cleaner}
    cache.clear()


@pytest.mark.parametrize("role", ["client", "cleaner"])
@schema.parametrize()
@hypothesis_settings(
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_generated_request_makes_an_endpoint_answer_500(case, role, marketplace):
    key = Token.objects.get_or_create(user=marketplace[role])[0].key

    response = case.call_and_validate(headers={"Authorization": f"Token {key}"}, checks=[not_a_server_error])

    REQUESTS[case.operation.label] += 1
    STATUSES[response.status_code] += 1
