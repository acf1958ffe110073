"""Rate limits hold against the ways people try to get around them, and races store one bid.

Each scope's plain 429 is in tests/jobs (test_api_auth, test_api_jobs, test_api_bids,
test_api_payments_messages). Here: the budget belongs to the user (or, for login,
to the address) whatever they vary, spending it stores nothing, and 50 identical
bids fired at once store exactly one.
"""

import threading
import time
from collections import Counter

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from rest_framework.authtoken.models import Token
from django.test import Client
from rest_framework.test import APIClient

from jobs.models import CleaningJob, JobBid, JobMessage
from notifications.models import Notification, OutboxEvent
from tests.factories import PASSWORD, CleanerFactory, CleaningJobFactory, ClientFactory, JobBidFactory
from tests.security.conftest import row_counts
from tests.security.test_object_access import job_payload

LIMIT = 2


def throttled_body(response) -> dict:
    seconds = int(response["Retry-After"])
    return {"detail": f"Request was throttled. Expected available in {seconds} seconds.", "code": "throttled"}


def make_writer(scope):
    """(a fresh user, send(api, n) -> response for the n-th write in this scope)."""
    if scope == "job_create":
        return ClientFactory(), lambda api, n: api.post("/api/jobs/", job_payload(), format="json")
    if scope == "bid_place":
        jobs = CleaningJobFactory.create_batch(LIMIT + 2)
        return CleanerFactory(), lambda api, n: api.post(f"/api/jobs/{jobs[n].pk}/bids/", {"amount": "90"}, format="json")
    if scope == "message_send":
        cleaner = CleanerFactory()
        bid = JobBidFactory(cleaner=cleaner)
        return cleaner, lambda api, n: api.post(f"/api/jobs/{bid.job_id}/messages/", {"body": f"#{n}"}, format="json")
    raise AssertionError(scope)


@pytest.mark.django_db
@pytest.mark.parametrize("scope, model", [("job_create", CleaningJob), ("bid_place", JobBid), ("message_send", JobMessage)])
def test_a_spent_write_budget_belongs_to_the_user_whatever_else_they_vary(scope, model, throttle_rate):
    throttle_rate(scope, f"{LIMIT}/min")
    user, send = make_writer(scope)
    key = Token.objects.create(user=user).key
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    session = APIClient()
    session.force_login(user)  # the same user over a session: the same budget
    spoofing = APIClient()  # and over the token from "another address"
    spoofing.credentials(HTTP_AUTHORIZATION=f"Token {key}", HTTP_X_FORWARDED_FOR="203.0.113.7")

    spent = [send(token, 0).status_code, send(token, 1).status_code]
    stored = model.objects.count()
    refused = [send(session, 2), send(spoofing, 3)]

    assert spent == [201, 201]
    for response in refused:
        assert response.status_code == 429
        assert 0 < int(response["Retry-After"]) <= 60
        assert response.json() == throttled_body(response)
    assert model.objects.count() == stored

    # Someone else's budget is untouched.
    other, other_send = make_writer(scope)
    other_api = APIClient()
    other_api.force_authenticate(user=other)
    assert other_send(other_api, 0).status_code == 201


@pytest.mark.django_db
def test_login_guessing_cannot_dodge_the_limit_with_forwarded_for_headers_or_other_usernames(throttle_rate):
    throttle_rate("login", f"{LIMIT}/min")
    victim = ClientFactory()
    api = APIClient()
    guesses = [
        api.post("/api/auth/token/", {"username": victim.username, "password": "guess-1"}, format="json"),
        api.post("/api/auth/token/", {"username": "someone-else", "password": "guess-2"}, format="json"),
    ]
    # A client-sent X-Forwarded-For is not an address: it must not buy a fresh budget.
    dodges = [
        api.post("/api/auth/token/", {"username": victim.username, "password": PASSWORD}, format="json",
                 HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        for n in range(5)
    ]

    assert [g.status_code for g in guesses] == [400, 400]
    for response in dodges:
        assert response.status_code == 429
        assert response.json() == throttled_body(response)
    assert not Token.objects.exists()

    # Another address has its own budget.
    elsewhere = api.post("/api/auth/token/", {"username": victim.username, "password": PASSWORD}, format="json",
                         REMOTE_ADDR="192.0.2.10")
    assert elsewhere.status_code == 200
    assert Token.objects.filter(user=victim).count() == 1


@pytest.mark.django_db
def test_reading_never_spends_the_write_budget(throttle_rate):
    throttle_rate("job_create", "1/min")
    api = APIClient()
    api.force_authenticate(user=ClientFactory())

    reads = [api.get("/api/jobs/").status_code for _ in range(10)]

    assert reads == [200] * 10
    assert api.post("/api/jobs/", job_payload(), format="json").status_code == 201


# --- 50 identical bids at once ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_fifty_identical_concurrent_bids_from_one_cleaner_store_one_bid_and_one_notification(throttle_rate):
    throttle_rate("bid_place", "1000/min")
    job = CleaningJobFactory()
    cleaner = CleanerFactory()
    racers = 50
    barrier = threading.Barrier(racers)
    responses = [None] * racers

    def bid(index):
        api = APIClient()
        api.force_authenticate(user=cleaner)
        try:
            barrier.wait(timeout=30)
            responses[index] = api.post(f"/api/jobs/{job.pk}/bids/", {"amount": "90.00"}, format="json")
        finally:
            connection.close()  # each thread opened its own connection

    threads = [threading.Thread(target=bid, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads), "a bid hung (deadlock?)"
    assert Counter(r.status_code for r in responses) == {201: 1, 409: racers - 1}
    assert {r.json()["detail"] for r in responses if r.status_code == 409} == {"You already have a live bid on this job."}
    assert JobBid.objects.filter(job=job, cleaner=cleaner).count() == 1
    # One bid, one event, one bid_received for the client (tasks run in-process on commit here).
    assert OutboxEvent.objects.filter(event_type="bid_received").count() == 1
    assert Notification.objects.filter(recipient=job.client, notification_type="bid_received").count() == 1
    assert row_counts()["JobBid"] == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_bids_sent_at_once_past_a_budget_of_five_store_five(throttle_rate, monkeypatch):
    throttle_rate("bid_place", "5/min")
    cleaner = CleanerFactory()
    jobs = CleaningJobFactory.create_batch(20)
    # A cache write that takes a while (Redis under load) keeps the budget's read and its write apart.
    write = LocMemCache.set
    monkeypatch.setattr(LocMemCache, "set", lambda self, *args, **kwargs: (time.sleep(0.05), write(self, *args, **kwargs))[1])
    barrier = threading.Barrier(len(jobs))
    statuses = [None] * len(jobs)

    def bid(index):
        api = APIClient()
        api.force_authenticate(user=cleaner)
        try:
            barrier.wait(timeout=30)
            statuses[index] = api.post(f"/api/jobs/{jobs[index].pk}/bids/", {"amount": "90.00"}, format="json").status_code
        finally:
            connection.close()  # each thread opened its own connection

    threads = [threading.Thread(target=bid, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert Counter(statuses) == {201: 5, 429: 15}
    assert JobBid.objects.filter(cleaner=cleaner).count() == 5


# --- one budget, whichever door: the API or the pages' forms ---------------------------


def make_page_writer(scope):
    """(a fresh user, send(browser, n) -> response for the n-th form post in this scope, model)."""
    from tests.pages.test_client_pages import job_data

    if scope == "job_create":
        return ClientFactory(), lambda browser, n: browser.post("/jobs/new/", job_data(title=f"Page job #{n}"))
    if scope == "bid_place":
        jobs = CleaningJobFactory.create_batch(LIMIT + 2)
        return CleanerFactory(), lambda browser, n: browser.post(f"/jobs/{jobs[n].pk}/bids/", {"amount": "90"})
    if scope == "message_send":
        cleaner = CleanerFactory()
        bid = JobBidFactory(cleaner=cleaner)
        return cleaner, lambda browser, n: browser.post(f"/jobs/{bid.job_id}/messages/", {"body": f"page #{n}"})
    raise AssertionError(scope)


WRITE_SCOPES = [("job_create", CleaningJob), ("bid_place", JobBid), ("message_send", JobMessage)]


def assert_page_refused(response):
    assert response.status_code == 429
    body = response.content.decode()
    assert "You are doing this too often. Try again in " in body
    seconds = int(body.split("Try again in ", 1)[1].split(" second", 1)[0])
    assert 0 < seconds <= 60


@pytest.mark.django_db
@pytest.mark.parametrize("scope, model", WRITE_SCOPES)
def test_a_budget_spent_on_the_api_is_spent_for_the_form_too(scope, model, throttle_rate):
    throttle_rate(scope, f"{LIMIT}/min")
    user, page_send = make_page_writer(scope)
    api = APIClient()
    api.force_login(user)
    browser = Client()
    browser.force_login(user)
    api_send = {
        "job_create": lambda n: api.post("/api/jobs/", job_payload(), format="json"),
        "bid_place": lambda n: api.post(f"/api/jobs/{CleaningJobFactory().pk}/bids/", {"amount": "90"}, format="json"),
        "message_send": lambda n: api.post(
            f"/api/jobs/{JobBid.objects.get(cleaner=user).job_id}/messages/", {"body": f"api #{n}"}, format="json"
        ),
    }[scope]

    assert [api_send(n).status_code for n in range(LIMIT)] == [201] * LIMIT
    stored, notified = model.objects.count(), Notification.objects.count()

    refused = page_send(browser, LIMIT)

    assert_page_refused(refused)
    assert model.objects.count() == stored
    assert Notification.objects.count() == notified


@pytest.mark.django_db
@pytest.mark.parametrize("scope, model", WRITE_SCOPES)
def test_a_budget_spent_on_the_form_is_spent_for_the_api_too(scope, model, throttle_rate):
    throttle_rate(scope, f"{LIMIT}/min")
    user, page_send = make_page_writer(scope)
    browser = Client()
    browser.force_login(user)

    assert [page_send(browser, n).status_code for n in range(LIMIT)] == [302] * LIMIT
    assert model.objects.count() == LIMIT
    refused_page = page_send(browser, LIMIT)
    api = APIClient()
    api.force_login(user)
    if scope == "job_create":
        refused_api = api.post("/api/jobs/", job_payload(), format="json")
    elif scope == "bid_place":
        refused_api = api.post(f"/api/jobs/{CleaningJobFactory().pk}/bids/", {"amount": "90"}, format="json")
    else:
        job_id = JobBid.objects.get(cleaner=user).job_id
        refused_api = api.post(f"/api/jobs/{job_id}/messages/", {"body": "api"}, format="json")

    assert_page_refused(refused_page)
    assert refused_api.status_code == 429
    assert refused_api.json() == throttled_body(refused_api)
    assert model.objects.count() == LIMIT


@pytest.mark.django_db(transaction=True)
def test_twenty_job_form_posts_past_the_limit_create_nothing_and_notify_nobody(throttle_rate):
    """The review's reproduction: the API said 429, then 20 form posts made 20 jobs and 80 notifications."""
    throttle_rate("job_create", f"{LIMIT}/min")
    CleanerFactory.create_batch(4)  # the audience of every job posted here
    client = ClientFactory()
    api = APIClient()
    api.force_login(client)
    spent = [api.post("/api/jobs/", job_payload(), format="json").status_code for _ in range(LIMIT + 1)]
    stored, notified = CleaningJob.objects.count(), Notification.objects.count()
    browser = Client()
    browser.force_login(client)

    from tests.pages.test_client_pages import job_data

    statuses = [browser.post("/jobs/new/", job_data()).status_code for _ in range(20)]

    assert spent == [201] * LIMIT + [429]
    assert (stored, notified) == (LIMIT, 4 * LIMIT)
    assert statuses == [429] * 20
    assert CleaningJob.objects.count() == LIMIT
    assert Notification.objects.count() == 4 * LIMIT
