"""The bid endpoints: list and place bids on a job, accept, reject and withdraw a bid."""

import pytest

from jobs.models import BidStatus, JobBid, JobStatus
from tests.factories import CleanerFactory, CleaningJobFactory, ClientBlockFactory, ClientFactory, JobBidFactory

pytestmark = pytest.mark.django_db


def bids_url(job_id):
    return f"/api/jobs/{job_id}/bids/"


def bid_url(bid_id, action):
    return f"/api/bids/{bid_id}/{action}/"


# --- list -------------------------------------------------------------------------


def test_client_sees_every_bid_on_their_job(api_as):
    job = CleaningJobFactory()
    bids = JobBidFactory.create_batch(3, job=job)
    JobBidFactory()  # on another job

    response = api_as(job.client).get(bids_url(job.pk))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [bid["id"] for bid in body["results"]] == [bid.pk for bid in bids]
    first = body["results"][0]
    assert first["cleaner"] == bids[0].cleaner_id
    assert first["cleaner_username"] == bids[0].cleaner.username
    assert first["amount"] == "100.00"
    assert first["status"] == "pending"


def test_cleaner_sees_only_their_own_bid(api_as):
    job = CleaningJobFactory()
    mine = JobBidFactory(job=job)
    JobBidFactory(job=job)

    response = api_as(mine.cleaner).get(bids_url(job.pk))

    assert response.status_code == 200
    assert [bid["id"] for bid in response.json()["results"]] == [mine.pk]


def test_bids_of_an_invisible_job_are_404(api_as):
    job = CleaningJobFactory()
    JobBidFactory(job=job)

    assert api_as(ClientFactory()).get(bids_url(job.pk)).status_code == 404
    assert api_as(CleanerFactory(profile__service_types=frozenset({"carpet"}))).get(bids_url(job.pk)).status_code == 404


# --- place ------------------------------------------------------------------------


def test_eligible_cleaner_places_a_bid(api_as):
    job = CleaningJobFactory()
    cleaner = CleanerFactory()

    response = api_as(cleaner).post(bids_url(job.pk), {"amount": "95.50", "message": "Tomorrow works."}, format="json")

    assert response.status_code == 201
    bid = JobBid.objects.get()
    assert response.json()["id"] == bid.pk
    assert response.json()["status"] == "pending"
    assert (bid.job, bid.cleaner, str(bid.amount), bid.message) == (job, cleaner, "95.50", "Tomorrow works.")


def test_bid_message_is_optional_and_amount_may_be_a_json_number(api_as):
    job = CleaningJobFactory()

    response = api_as(CleanerFactory()).post(bids_url(job.pk), {"amount": 80}, format="json")

    assert response.status_code == 201
    assert response.json()["amount"] == "80.00"
    assert JobBid.objects.get().message == ""


def test_a_second_live_bid_is_409(api_as):
    bid = JobBidFactory()

    response = api_as(bid.cleaner).post(bids_url(bid.job_id), {"amount": "90"}, format="json")

    assert response.status_code == 409
    assert response.json() == {"detail": "You already have a live bid on this job.", "code": "conflict"}
    assert JobBid.objects.count() == 1


def test_a_cleaner_may_bid_again_after_withdrawing(api_as):
    bid = JobBidFactory(status=BidStatus.WITHDRAWN)

    response = api_as(bid.cleaner).post(bids_url(bid.job_id), {"amount": "90"}, format="json")

    assert response.status_code == 201
    assert JobBid.objects.count() == 2


def test_bidding_on_a_job_that_is_no_longer_open_is_409(api_as):
    # The cleaner still sees the cancelled job because of their earlier (rejected) bid.
    bid = JobBidFactory(job__status=JobStatus.CANCELLED, status=BidStatus.REJECTED)

    response = api_as(bid.cleaner).post(bids_url(bid.job_id), {"amount": "90"}, format="json")

    assert response.status_code == 409
    assert response.json()["detail"] == "This job is no longer open for bids."
    assert JobBid.objects.count() == 1


def test_client_cannot_bid_on_their_own_job(api_as):
    job = CleaningJobFactory()

    response = api_as(job.client).post(bids_url(job.pk), {"amount": "90"}, format="json")

    assert response.status_code == 403
    assert response.json() == {"detail": "Only cleaners can do this.", "code": "forbidden"}
    assert not JobBid.objects.exists()


@pytest.mark.parametrize(
    "bidder",
    [
        pytest.param(lambda job: ClientFactory(), id="another client"),
        pytest.param(lambda job: CleanerFactory(profile__service_types=frozenset({"carpet"})), id="ineligible cleaner"),
        pytest.param(lambda job: ClientBlockFactory(client=job.client).cleaner, id="blocked cleaner"),
    ],
)
def test_bidding_on_a_job_the_user_may_not_see_is_404(api_as, bidder):
    job = CleaningJobFactory()

    response = api_as(bidder(job)).post(bids_url(job.pk), {"amount": "90"}, format="json")

    assert response.status_code == 404
    assert not JobBid.objects.exists()


def test_bidding_on_an_unknown_job_is_404(api_as):
    assert api_as(CleanerFactory()).post(bids_url(10**12), {"amount": "90"}, format="json").status_code == 404


@pytest.mark.parametrize(
    "payload, field, message",
    [
        ({}, "amount", "This field is required."),
        ({"amount": None}, "amount", "This field may not be null."),
        ({"amount": ""}, "amount", "A valid number is required."),
        ({"amount": "ninety"}, "amount", "A valid number is required."),
        ({"amount": [90]}, "amount", "A valid number is required."),
        ({"amount": {"value": 90}}, "amount", "A valid number is required."),
        ({"amount": True}, "amount", "A valid number is required."),
        ({"amount": "0.50"}, "amount", "Ensure this value is greater than or equal to 1."),
        ({"amount": "-5"}, "amount", "Ensure this value is greater than or equal to 1."),
        ({"amount": "100000.01"}, "amount", "Ensure this value is less than or equal to 100000.00."),
        ({"amount": 10**30}, "amount", "Ensure that there are no more than 9 digits in total."),
        ({"amount": "1e309"}, "amount", "Ensure that there are no more than 9 digits in total."),
        ({"amount": "NaN"}, "amount", "A valid number is required."),
        ({"amount": "Infinity"}, "amount", "A valid number is required."),
        ({"amount": "9.999"}, "amount", "Ensure that there are no more than 2 decimal places."),
        ({"amount": "90", "message": "x" * 2001}, "message", "Ensure this field has no more than 2000 characters."),
        ({"amount": "90", "message": "hi\x00"}, "message", "Null characters are not allowed."),
        ({"amount": "90", "message": ["hi"]}, "message", "Not a valid string."),
    ],
)
def test_invalid_bids_are_field_errors(api_as, payload, field, message):
    job = CleaningJobFactory()

    response = api_as(CleanerFactory()).post(bids_url(job.pk), payload, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"] == {field: [message]}
    assert not JobBid.objects.exists()


@pytest.mark.parametrize("raw", ['{"amount": 1e309}', '{"amount": NaN}', '{"amount": ', "[]", "null"])
def test_malformed_bid_bodies_are_400(api_as, raw):
    job = CleaningJobFactory()

    response = api_as(CleanerFactory()).post(bids_url(job.pk), data=raw, content_type="application/json")

    assert response.status_code == 400
    assert not JobBid.objects.exists()


def test_bid_placement_is_throttled_but_listing_is_not(api_as, throttle_rate):
    throttle_rate("bid_place", "1/min")
    cleaner = CleanerFactory()
    first, second = CleaningJobFactory(), CleaningJobFactory()
    api = api_as(cleaner)

    assert api.post(bids_url(first.pk), {"amount": "90"}, format="json").status_code == 201
    response = api.post(bids_url(second.pk), {"amount": "90"}, format="json")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["code"] == "throttled"
    assert JobBid.objects.count() == 1
    assert api.get(bids_url(first.pk)).status_code == 200


# --- accept -----------------------------------------------------------------------


def test_client_accepts_a_bid_and_the_others_are_rejected(api_as):
    job = CleaningJobFactory()
    winner, loser = JobBidFactory.create_batch(2, job=job)
    withdrawn = JobBidFactory(job=job, status=BidStatus.WITHDRAWN)

    response = api_as(job.client).post(bid_url(winner.pk, "accept"))

    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    job.refresh_from_db()
    assert (job.status, job.assigned_cleaner) == (JobStatus.ASSIGNED, winner.cleaner)
    assert JobBid.objects.get(pk=loser.pk).status == BidStatus.REJECTED
    assert JobBid.objects.get(pk=withdrawn.pk).status == BidStatus.WITHDRAWN


def test_accepting_on_an_assigned_job_is_409(api_as):
    job = CleaningJobFactory()
    first, second = JobBidFactory.create_batch(2, job=job)
    api = api_as(job.client)
    api.post(bid_url(first.pk, "accept"))

    response = api.post(bid_url(second.pk, "accept"))

    assert response.status_code == 409
    assert response.json()["detail"] == "This job already has an accepted bid or is no longer open."
    job.refresh_from_db()
    assert job.assigned_cleaner == first.cleaner


@pytest.mark.parametrize("status", [BidStatus.WITHDRAWN, BidStatus.REJECTED])
def test_accepting_a_bid_that_is_not_pending_is_409(api_as, status):
    bid = JobBidFactory(status=status)

    response = api_as(bid.job.client).post(bid_url(bid.pk, "accept"))

    assert response.status_code == 409
    assert response.json() == {"detail": f"This bid is {status} and cannot be accepted.", "code": "conflict"}
    bid.job.refresh_from_db()
    assert bid.job.status == JobStatus.OPEN


def test_cleaner_cannot_accept_their_own_bid(api_as):
    bid = JobBidFactory()

    response = api_as(bid.cleaner).post(bid_url(bid.pk, "accept"))

    assert response.status_code == 403
    assert response.json()["detail"] == "Only the client who posted this job can accept bids."
    bid.refresh_from_db()
    assert bid.status == BidStatus.PENDING


# --- reject -----------------------------------------------------------------------


def test_client_rejects_a_bid(api_as):
    bid = JobBidFactory()

    response = api_as(bid.job.client).post(bid_url(bid.pk, "reject"))

    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    bid.refresh_from_db()
    assert bid.status == BidStatus.REJECTED


def test_rejecting_a_rejected_bid_is_409(api_as):
    bid = JobBidFactory(status=BidStatus.REJECTED)

    response = api_as(bid.job.client).post(bid_url(bid.pk, "reject"))

    assert response.status_code == 409
    assert response.json()["detail"] == "This bid is rejected and cannot be rejected."


def test_cleaner_cannot_reject_a_bid(api_as):
    bid = JobBidFactory()

    response = api_as(bid.cleaner).post(bid_url(bid.pk, "reject"))

    assert response.status_code == 403
    bid.refresh_from_db()
    assert bid.status == BidStatus.PENDING


# --- withdraw ---------------------------------------------------------------------


def test_cleaner_withdraws_their_bid(api_as):
    bid = JobBidFactory()

    response = api_as(bid.cleaner).post(bid_url(bid.pk, "withdraw"))

    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    bid.refresh_from_db()
    assert bid.status == BidStatus.WITHDRAWN


def test_withdrawing_an_accepted_bid_is_409(api_as):
    bid = JobBidFactory(status=BidStatus.ACCEPTED, job__status=JobStatus.ASSIGNED)

    response = api_as(bid.cleaner).post(bid_url(bid.pk, "withdraw"))

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert "cannot be withdrawn" in response.json()["detail"]
    bid.refresh_from_db()
    assert bid.status == BidStatus.ACCEPTED


def test_client_cannot_withdraw_a_cleaners_bid(api_as):
    bid = JobBidFactory()

    response = api_as(bid.job.client).post(bid_url(bid.pk, "withdraw"))

    assert response.status_code == 403
    assert response.json()["detail"] == "Only the cleaner who placed this bid can withdraw it."


# --- visibility of bids -----------------------------------------------------------


@pytest.mark.parametrize("action", ["accept", "reject", "withdraw"])
@pytest.mark.parametrize(
    "outsider",
    [
        pytest.param(lambda: ClientFactory(), id="another client"),
        pytest.param(lambda: CleanerFactory(), id="another cleaner"),
    ],
)
def test_a_bid_the_user_may_not_see_is_404(api_as, action, outsider):
    bid = JobBidFactory()

    response = api_as(outsider()).post(bid_url(bid.pk, action))

    assert response.status_code == 404
    assert response.json() == {"detail": "Bid not found.", "code": "not_found"}
    bid.refresh_from_db()
    assert bid.status == BidStatus.PENDING


@pytest.mark.parametrize("bid_id", ["999999999", str(10**30), "abc", "1e3"])
def test_unknown_or_malformed_bid_ids_are_404(api_as, bid_id):
    assert api_as(ClientFactory()).post(f"/api/bids/{bid_id}/accept/").status_code == 404
