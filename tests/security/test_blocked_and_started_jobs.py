"""A block stops messages and bids both ways, and a job whose start has passed takes no bids, at every door.

The rules live in the services (tests/jobs/test_services.py); here the API answers
403/409 in the error shape, the pages show the message, and nothing is stored or
notified. Tasks run in-process on commit, so the notification counts are real.
"""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import escape
from rest_framework.test import APIClient

from jobs import services
from jobs.models import BidStatus, CleaningJob, JobBid, JobMessage, JobStatus
from notifications.models import Notification
from tests.factories import ClientBlockFactory, JobBidFactory

pytestmark = pytest.mark.django_db

CLEANER_BLOCKED = "You cannot message this client: they have blocked you."
CLIENT_BLOCKED = "You blocked this cleaner: you cannot message them."
BID_BLOCKED = "You cannot bid on this client's jobs: they have blocked you."
BID_STARTED = "This job's start time has passed, so it takes no more bids."
ACCEPT_STARTED = "This job's start time has passed, so no bid can be accepted."


def signed_in(user, api=False):
    browser = APIClient() if api else Client()
    browser.force_login(user)
    return browser


def notifications_of(user, kind) -> int:
    return Notification.objects.filter(recipient=user, notification_type=kind).count()


@pytest.fixture
def blocked_bid():
    """A cleaner's pending bid, after which the job's client blocked them."""
    bid = JobBidFactory()
    ClientBlockFactory(client=bid.job.client, cleaner=bid.cleaner)
    return bid


# --- blocks -------------------------------------------------------------------------


def test_a_blocked_cleaners_messages_are_refused_by_the_api_and_the_form(blocked_bid, django_capture_on_commit_callbacks):
    job, cleaner = blocked_bid.job, blocked_bid.cleaner
    with django_capture_on_commit_callbacks(execute=True):
        api = signed_in(cleaner, api=True).post(f"/api/jobs/{job.pk}/messages/", {"body": "api"}, format="json")
        page = signed_in(cleaner).post(f"/jobs/{job.pk}/messages/", {"body": "form"}, follow=True)

    assert api.status_code == 403
    assert api.json() == {"detail": CLEANER_BLOCKED, "code": "forbidden"}
    assert page.status_code == 200 and escape(CLEANER_BLOCKED) in page.content.decode()
    assert JobMessage.objects.count() == 0
    assert notifications_of(job.client, "message_received") == 0


def test_the_client_cannot_message_a_cleaner_they_blocked(blocked_bid, django_capture_on_commit_callbacks):
    job, cleaner = blocked_bid.job, blocked_bid.cleaner
    with django_capture_on_commit_callbacks(execute=True):
        api = signed_in(job.client, api=True).post(
            f"/api/jobs/{job.pk}/messages/", {"body": "api", "recipient": cleaner.pk}, format="json"
        )
        page = signed_in(job.client).post(f"/jobs/{job.pk}/messages/", {"body": "form", "recipient": cleaner.pk}, follow=True)

    assert api.status_code == 403
    assert api.json() == {"detail": CLIENT_BLOCKED, "code": "forbidden"}
    assert page.status_code == 200 and escape(CLIENT_BLOCKED) in page.content.decode()
    assert JobMessage.objects.count() == 0
    assert notifications_of(cleaner, "message_received") == 0


def test_a_blocked_cleaner_who_bid_before_cannot_bid_again_and_the_client_hears_nothing(
    django_capture_on_commit_callbacks,
):
    bid = JobBidFactory()
    services.bid_withdraw(bid=bid, cleaner=bid.cleaner)
    ClientBlockFactory(client=bid.job.client, cleaner=bid.cleaner)
    job, cleaner = bid.job, bid.cleaner
    with django_capture_on_commit_callbacks(execute=True):
        api = signed_in(cleaner, api=True).post(f"/api/jobs/{job.pk}/bids/", {"amount": "90"}, format="json")
        page = signed_in(cleaner).post(f"/jobs/{job.pk}/bids/", {"amount": "90"}, follow=True)

    assert api.status_code == 403
    assert api.json() == {"detail": BID_BLOCKED, "code": "forbidden"}
    assert page.status_code == 200 and escape(BID_BLOCKED) in page.content.decode()
    assert list(JobBid.objects.values_list("status", flat=True)) == [BidStatus.WITHDRAWN]
    assert notifications_of(job.client, "bid_received") == 0


def test_the_job_page_offers_no_message_form_across_a_block(blocked_bid):
    job, cleaner = blocked_bid.job, blocked_bid.cleaner
    cleaner_page = signed_in(cleaner).get(f"/jobs/{job.pk}/").content.decode()
    client_page = signed_in(job.client).get(f"/jobs/{job.pk}/").content.decode()
    assert 'class="message-form"' not in cleaner_page
    assert f'<option value="{cleaner.pk}"' not in client_page


# --- jobs whose start has passed -------------------------------------------------------


def start_passed(job):
    CleaningJob.objects.filter(pk=job.pk).update(scheduled_start=timezone.now() - timedelta(minutes=5))


def test_accepting_a_bid_after_the_start_is_a_conflict_on_the_api_and_a_message_on_the_page(
    django_capture_on_commit_callbacks,
):
    bid = JobBidFactory()
    start_passed(bid.job)
    client = bid.job.client
    with django_capture_on_commit_callbacks(execute=True):
        api = signed_in(client, api=True).post(f"/api/bids/{bid.pk}/accept/")
        page = signed_in(client).post(f"/bids/{bid.pk}/accept/", follow=True)

    assert api.status_code == 409
    assert api.json() == {"detail": ACCEPT_STARTED, "code": "conflict"}
    assert page.status_code == 200 and escape(ACCEPT_STARTED) in page.content.decode()
    bid.refresh_from_db()
    assert bid.status == BidStatus.PENDING
    assert CleaningJob.objects.get().status == JobStatus.OPEN
    assert notifications_of(bid.cleaner, "bid_accepted") == 0


def test_bidding_again_after_the_start_is_a_conflict_on_the_api_and_a_message_on_the_page(
    django_capture_on_commit_callbacks,
):
    # A cleaner who bid before still sees the job (the board no longer lists it).
    bid = JobBidFactory()
    services.bid_withdraw(bid=bid, cleaner=bid.cleaner)
    start_passed(bid.job)
    with django_capture_on_commit_callbacks(execute=True):
        api = signed_in(bid.cleaner, api=True).post(f"/api/jobs/{bid.job_id}/bids/", {"amount": "90"}, format="json")
        page = signed_in(bid.cleaner).post(f"/jobs/{bid.job_id}/bids/", {"amount": "90"}, follow=True)

    assert api.status_code == 409
    assert api.json() == {"detail": BID_STARTED, "code": "conflict"}
    assert page.status_code == 200 and escape(BID_STARTED) in page.content.decode()
    assert JobBid.objects.count() == 1
    assert notifications_of(bid.job.client, "bid_received") == 0
