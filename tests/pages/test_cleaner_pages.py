"""The cleaner's pages: the job board, the job page with its bid form, my bids."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from jobs.models import BidStatus, JobBid, JobMessage, JobStatus
from tests.factories import CleanerFactory, CleaningJobFactory, JobBidFactory

pytestmark = pytest.mark.django_db


def test_board_lists_the_jobs_the_cleaner_can_take(as_cleaner):
    near = CleaningJobFactory(title="Near and open")
    CleaningJobFactory(title="Far away", latitude=48.8566, longitude=2.3522)
    CleaningJobFactory(title="Already taken", status=JobStatus.ASSIGNED)
    response = as_cleaner.get("/board/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Near and open" in body and "Far away" not in body and "Already taken" not in body
    assert f'data-job-id="{near.pk}"' in body
    assert "data-live-board" in body
    assert "1 open job for you" in body


def test_board_marks_jobs_already_bid_on(as_cleaner, cleaner):
    job = CleaningJobFactory()
    JobBidFactory(job=job, cleaner=cleaner)
    assert "You bid" in as_cleaner.get("/board/").content.decode()


def test_board_empty_state_and_fragment(as_cleaner):
    assert "No open jobs right now" in as_cleaner.get("/board/").content.decode()
    CleaningJobFactory(title="Fresh one")
    fragment = as_cleaner.get("/board/fragment/")
    assert fragment.status_code == 200
    assert "Fresh one" in fragment.content.decode() and "<html" not in fragment.content.decode()


def test_clients_have_no_board(as_client):
    assert as_client.get("/board/")["Location"] == "/jobs/mine/"
    assert as_client.get("/bids/mine/")["Location"] == "/jobs/mine/"
    assert as_client.get("/board/fragment/").status_code == 404


def test_cleaner_my_jobs_goes_to_my_bids(as_cleaner):
    assert as_cleaner.get("/jobs/mine/")["Location"] == "/bids/mine/"


def test_job_page_has_a_bid_form(as_cleaner):
    job = CleaningJobFactory(budget=Decimal("120.00"))
    body = as_cleaner.get(f"/jobs/{job.pk}/").content.decode()
    assert f'action="/jobs/{job.pk}/bids/"' in body
    assert 'name="amount"' in body and 'value="120.00"' in body
    # Not theirs to accept or cancel.
    assert "/accept/" not in body and f"/jobs/{job.pk}/cancel/" not in body


def test_placing_a_bid(as_cleaner, cleaner):
    job = CleaningJobFactory()
    response = as_cleaner.post(f"/jobs/{job.pk}/bids/", {"amount": "99.50", "message": "Can do Friday"})
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    bid = JobBid.objects.get()
    assert bid.cleaner == cleaner and bid.amount == Decimal("99.50") and bid.status == BidStatus.PENDING
    body = as_cleaner.get(f"/jobs/{job.pk}/").content.decode()
    assert "Your bid is in" in body and "€99.50" in body and f'action="/bids/{bid.pk}/withdraw/"' in body
    # One live bid: the form is gone.
    assert f'action="/jobs/{job.pk}/bids/"' not in body


@pytest.mark.parametrize(
    "amount, message",
    [
        ("", "This field is required."),
        ("0", "Ensure this value is greater than or equal to 1."),
        ("abc", "Enter a number."),
        ("100000.01", "Ensure this value is less than or equal to 100000.00."),
        ("1.234", "Ensure that there are no more than 2 decimal places."),
    ],
)
def test_bad_bids_show_field_errors(as_cleaner, amount, message):
    job = CleaningJobFactory()
    response = as_cleaner.post(f"/jobs/{job.pk}/bids/", {"amount": amount})
    assert response.status_code == 400
    assert message in response.context["bid_form"].errors["amount"]
    assert message.replace("'", "&#x27;") in response.content.decode()
    assert not JobBid.objects.exists()


def test_bidding_twice_is_a_message(as_cleaner, cleaner):
    job = CleaningJobFactory()
    JobBidFactory(job=job, cleaner=cleaner)
    response = as_cleaner.post(f"/jobs/{job.pk}/bids/", {"amount": "80"}, follow=True)
    assert response.status_code == 200
    assert "already have a live bid" in response.content.decode()
    assert JobBid.objects.count() == 1


def test_a_job_off_the_board_is_404_for_bids(login):
    job = CleaningJobFactory()
    far = login(CleanerFactory(profile__latitude=48.85, profile__longitude=2.35))
    assert far.post(f"/jobs/{job.pk}/bids/", {"amount": "80"}).status_code == 404
    assert not JobBid.objects.exists()


def test_withdrawing_from_the_job_page_and_from_my_bids(as_cleaner, cleaner):
    first = JobBidFactory(cleaner=cleaner)
    as_cleaner.post(f"/bids/{first.pk}/withdraw/")
    first.refresh_from_db()
    assert first.status == BidStatus.WITHDRAWN

    second = JobBidFactory(cleaner=cleaner)
    response = as_cleaner.post(f"/bids/{second.pk}/withdraw/", {"next": "/bids/mine/"})
    assert response["Location"] == "/bids/mine/"
    again = as_cleaner.post(f"/bids/{second.pk}/withdraw/", follow=True)
    assert "cannot be withdrawn" in again.content.decode()


def test_withdraw_ignores_a_foreign_next(as_cleaner, cleaner):
    bid = JobBidFactory(cleaner=cleaner)
    response = as_cleaner.post(f"/bids/{bid.pk}/withdraw/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/jobs/{bid.job_id}/"


def test_someone_elses_bid_cannot_be_withdrawn(as_cleaner):
    bid = JobBidFactory()
    assert as_cleaner.post(f"/bids/{bid.pk}/withdraw/").status_code == 404


def test_my_bids_lists_statuses(as_cleaner, cleaner):
    pending = JobBidFactory(cleaner=cleaner, job=CleaningJobFactory(title="Pending one"))
    JobBidFactory(cleaner=cleaner, job=CleaningJobFactory(title="Declined one"), status=BidStatus.REJECTED)
    JobBidFactory(job=CleaningJobFactory(title="Not mine"))
    body = as_cleaner.get("/bids/mine/").content.decode()
    assert "Pending one" in body and "Declined one" in body and "Not mine" not in body
    assert f'data-bid-id="{pending.pk}"' in body and "data-bid-status" in body and "data-live-bids" in body
    assert "Rejected" in body


def test_the_assigned_cleaner_starts_and_completes(login, cleaner):
    job = CleaningJobFactory(status=JobStatus.ASSIGNED, assigned_cleaner=cleaner)
    JobBidFactory(job=job, cleaner=cleaner, status=BidStatus.ACCEPTED)
    browser = login(cleaner)
    browser.post(f"/jobs/{job.pk}/start/")
    job.refresh_from_db()
    assert job.status == JobStatus.IN_PROGRESS
    # Starting twice: a clear message.
    response = browser.post(f"/jobs/{job.pk}/start/", follow=True)
    assert "cannot be started" in response.content.decode()


def test_another_cleaner_cannot_start_it(login, cleaner):
    job = CleaningJobFactory(status=JobStatus.ASSIGNED, assigned_cleaner=CleanerFactory())
    JobBidFactory(job=job, cleaner=cleaner, status=BidStatus.REJECTED)
    browser = login(cleaner)
    response = browser.post(f"/jobs/{job.pk}/start/", follow=True)
    assert response.status_code == 200
    assert "Only the cleaner assigned to this job can start it." in response.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.ASSIGNED


def test_a_bidder_messages_the_client(as_cleaner, cleaner):
    bid = JobBidFactory(cleaner=cleaner)
    body = as_cleaner.get(f"/jobs/{bid.job_id}/").content.decode()
    assert 'name="recipient"' not in body and 'name="body"' in body
    as_cleaner.post(f"/jobs/{bid.job_id}/messages/", {"body": "Do you have a vacuum?"})
    message = JobMessage.objects.get()
    assert message.sender == cleaner and message.recipient == bid.job.client


def test_a_cleaner_without_a_bid_cannot_message(as_cleaner):
    job = CleaningJobFactory()
    assert "Place a bid to message the client." in as_cleaner.get(f"/jobs/{job.pk}/").content.decode()
    response = as_cleaner.post(f"/jobs/{job.pk}/messages/", {"body": "hi"}, follow=True)
    assert "Only the client and cleaners who bid" in response.content.decode()
    assert not JobMessage.objects.exists()


def test_a_job_in_the_past_leaves_the_board(as_cleaner):
    CleaningJobFactory(title="Yesterday", scheduled_start=timezone.now() - timedelta(days=1))
    assert "Yesterday" not in as_cleaner.get("/board/").content.decode()
