"""Races that only real concurrent PostgreSQL transactions can show.

Each test commits its fixtures (transaction=True) and runs the racing calls in
threads, each with its own database connection; a Barrier releases them together
so the calls really overlap instead of running one after the other.
"""

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from jobs import services
from project.exceptions import InvalidTransition
from jobs.models import BidStatus, JobBid, JobStatus
from tests.factories import CleanerFactory, CleaningJobFactory, JobBidFactory

pytestmark = pytest.mark.django_db(transaction=True)


def race(calls):
    """Run each zero-argument callable in its own thread, all released at once.

    Returns one result per call, in order: its return value or the exception it raised.
    """
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each racer got
            results[index] = exc
        finally:
            connection.close()  # each thread opened its own connection

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a racer hung (deadlock?)"
    return results


def test_two_accepts_on_one_job_have_exactly_one_winner():
    job = CleaningJobFactory()
    bids = JobBidFactory.create_batch(3, job=job)
    racing = bids[:2]

    results = race([lambda bid=bid: services.bid_accept(bid=bid, client=job.client) for bid in racing])

    winners = [r for r in results if isinstance(r, JobBid)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1
    assert len(losers) == 1 and isinstance(losers[0], InvalidTransition)
    job.refresh_from_db()
    assert job.status == JobStatus.ASSIGNED
    assert job.assigned_cleaner_id == winners[0].cleaner_id
    statuses = {bid.pk: bid.status for bid in JobBid.objects.filter(job=job)}
    assert statuses.pop(winners[0].pk) == BidStatus.ACCEPTED
    assert set(statuses.values()) == {BidStatus.REJECTED}


def test_two_accepts_over_the_api_give_one_200_and_one_409():
    job = CleaningJobFactory()
    bids = JobBidFactory.create_batch(2, job=job)

    def accept(bid):
        client = APIClient()
        client.force_authenticate(user=job.client)
        return client.post(f"/api/bids/{bid.pk}/accept/")

    responses = race([lambda bid=bid: accept(bid) for bid in bids])

    assert sorted(r.status_code for r in responses) == [200, 409]
    winner = next(r for r in responses if r.status_code == 200).json()
    loser = next(r for r in responses if r.status_code == 409).json()
    assert loser["code"] == "conflict"
    job.refresh_from_db()
    assert job.assigned_cleaner_id == winner["cleaner"]
    assert Counter(JobBid.objects.filter(job=job).values_list("status", flat=True)) == {
        BidStatus.ACCEPTED: 1,
        BidStatus.REJECTED: 1,
    }


def test_twenty_identical_bids_from_one_cleaner_store_exactly_one():
    job = CleaningJobFactory()
    cleaner = CleanerFactory()

    results = race([lambda: services.bid_place(job=job, cleaner=cleaner, amount=Decimal("90.00"))] * 20)

    assert sum(isinstance(r, JobBid) for r in results) == 1
    errors = [r for r in results if not isinstance(r, JobBid)]
    assert len(errors) == 19
    assert all(isinstance(e, InvalidTransition) and e.status_code == 409 for e in errors)
    assert JobBid.objects.filter(job=job, cleaner=cleaner).count() == 1
