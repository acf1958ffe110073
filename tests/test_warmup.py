"""A fresh process pays its one-time costs before it takes work (project/warmup.py).

What is warmed must be what the first requests use: the bid's query shape compiled at
start is the one a real bid by a cleaner of every service and day looks up.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.urls import clear_url_caches, get_resolver
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from jobs import authentication, selectors
from jobs.models import JobBid
from notifications import plans, rendering
from notifications.catalog import NotificationType
from notifications.models import Notification
from notifications.outbox import direct, dispatch
from project import warmup
from tests.factories import CleanerFactory, CleaningJobFactory, JobBidFactory

pytestmark = pytest.mark.django_db(transaction=True)  # the warm-up hands its connection back to the pool


@pytest.fixture
def cold_process():
    """This test process as a fresh one: no URL map built, no query shape compiled."""
    clear_url_caches()
    selectors._job_for_bid._by_shape.clear()
    authentication._token_with_role._by_shape.clear()
    yield
    clear_url_caches()


@pytest.fixture
def request_threads():
    with ThreadPoolExecutor(max_workers=8) as threads:
        yield threads


def test_a_warmed_web_process_has_compiled_the_shapes_its_first_bid_uses(cold_process, request_threads):
    warmup.web_process_warm(request_threads)
    assert get_resolver()._populated, "the URL map is built at start, not by the first request"
    warmed_bid_shapes = set(selectors._job_for_bid._by_shape)
    warmed_token_shapes = set(authentication._token_with_role._by_shape)
    assert len(warmed_bid_shapes) == 1 and len(warmed_token_shapes) == 1

    job, cleaner = CleaningJobFactory(), CleanerFactory()  # every service, every working day
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=cleaner).key}")
    response = api.post(f"/api/jobs/{job.pk}/bids/", {"amount": "90.00", "message": "Tomorrow?"}, format="json")

    assert response.status_code == 201, response.content
    assert JobBid.objects.filter(job=job, cleaner=cleaner).exists()
    assert set(selectors._job_for_bid._by_shape) == warmed_bid_shapes, "the bid compiled a shape of its own"
    assert set(authentication._token_with_role._by_shape) == warmed_token_shapes


def test_the_first_request_threads_each_hold_a_connection_with_the_api_statements_prepared(
    cold_process, request_threads, monkeypatch
):
    primed = []  # (PostgreSQL session, statements prepared on it), one per thread
    prepare = warmup._api_queries_prepare

    def prepare_and_look():
        prepare()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid(), (SELECT count(*) FROM pg_prepared_statements)")
            primed.append(cursor.fetchone())

    monkeypatch.setattr(warmup, "_api_queries_prepare", prepare_and_look)
    warmup.web_process_warm(request_threads)

    assert len(primed) == warmup.WEB_REQUEST_THREADS_AT_START
    assert len({session for session, _ in primed}) == len(primed), "a connection of its own each"
    assert all(statements >= 2 for _, statements in primed), primed  # the token and the bid's job lookup


@pytest.fixture
def cold_worker_process():
    """This test process as a fresh pool process: none of the event's query shapes compiled."""
    queries = [dispatch._event_for_update, plans._bid_with_people, rendering._active_template_read, direct._rows_by_id]
    for query in queries:
        query._by_shape.clear()
    plans._named_users_query.cache_clear()
    yield queries
    plans._named_users_query.cache_clear()


def test_a_warmed_worker_process_has_compiled_the_shapes_its_first_bid_event_uses(cold_worker_process):
    warmup.worker_process_connect()
    warmed = [set(query._by_shape) for query in cold_worker_process]
    assert all(len(shapes) == 1 for shapes in warmed)
    audience_query = plans._named_users_query(str(NotificationType.BID_RECEIVED))  # as delivery_plan_for asks
    warmed_audience = set(audience_query._by_shape)
    assert len(warmed_audience) == 1

    bid = JobBidFactory()  # its bid_received event, delivered in-process (no broker in the tests)

    assert Notification.objects.filter(recipient=bid.job.client, notification_type=NotificationType.BID_RECEIVED).exists()
    assert [set(query._by_shape) for query in cold_worker_process] == warmed, "the event compiled a shape of its own"
    assert set(audience_query._by_shape) == warmed_audience
