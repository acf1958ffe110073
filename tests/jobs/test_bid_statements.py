"""One bid through the API costs at most five SQL statements, counted as the web process sends them."""

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from celery_app import app as celery_app
from jobs.models import JobBid
from notifications.models import OutboxEvent
from tests.factories import CleanerFactory, CleaningJobFactory

# transaction=True: no test transaction around the request, so the service's atomic block
# is the outermost one, as in production (BEGIN/COMMIT, no SAVEPOINT), and every statement
# the request sends is counted, SAVEPOINTs included if any appear.
pytestmark = pytest.mark.django_db(transaction=True)

MAX_STATEMENTS = 5


@pytest.fixture
def tasks_queued_not_run():
    """As in production the web process only hands the task to the broker (in-memory here):
    the worker's statements are not the API's."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = eager


def test_a_bid_through_the_api_runs_at_most_five_statements(tasks_queued_not_run):
    job = CleaningJobFactory()
    cleaner = CleanerFactory()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=cleaner).key}")
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        response = api.post(f"/api/jobs/{job.pk}/bids/", {"amount": "90.00", "message": "Tomorrow?"}, format="json")

    assert response.status_code == 201, response.content
    bid = JobBid.objects.get(job=job, cleaner=cleaner)
    assert response.json()["id"] == bid.pk
    assert OutboxEvent.objects.filter(payload={"bid_id": bid.pk}).count() == 1
    listing = "\n".join(f"{i}. {sql[:200]}" for i, sql in enumerate(statements, 1))
    assert len(statements) <= MAX_STATEMENTS, f"{len(statements)} statements:\n{listing}"
