"""Paying for a job and messaging about it."""

from decimal import Decimal

import pytest

from jobs.models import BidStatus, JobMessage, JobStatus, Payment, PaymentStatus
from tests.factories import (
    CleanerFactory,
    CleaningJobFactory,
    ClientFactory,
    JobBidFactory,
    JobMessageFactory,
    PaymentFactory,
)

pytestmark = pytest.mark.django_db


def payments_url(job_id):
    return f"/api/jobs/{job_id}/payments/"


def messages_url(job_id):
    return f"/api/jobs/{job_id}/messages/"


def job_done_by(cleaner, *, status=JobStatus.COMPLETED, amount=Decimal("95.00")):
    """A job assigned to `cleaner` through an accepted bid of `amount`."""
    job = CleaningJobFactory(status=status, assigned_cleaner=cleaner)
    JobBidFactory(job=job, cleaner=cleaner, amount=amount, status=BidStatus.ACCEPTED)
    return job


# --- payments -------------------------------------------------------------------


def test_client_pays_the_accepted_bid_for_a_completed_job(api_as):
    cleaner = CleanerFactory()
    job = job_done_by(cleaner)

    response = api_as(job.client).post(payments_url(job.pk), {}, format="json")

    assert response.status_code == 201
    body = response.json()
    payment = Payment.objects.get()
    assert body["id"] == payment.pk
    assert body["status"] == "succeeded"
    assert body["amount"] == "95.00"
    assert body["payer"] == job.client_id
    assert body["payee"] == cleaner.pk
    assert body["provider_reference"].startswith("sim_")
    assert payment.status == PaymentStatus.SUCCEEDED


def test_a_declined_payment_is_402_stored_as_failed_and_may_be_retried(api_as):
    job = job_done_by(CleanerFactory())
    api = api_as(job.client)

    declined = api.post(payments_url(job.pk), {"simulate_failure": True}, format="json")

    assert declined.status_code == 402
    body = declined.json()
    assert body["code"] == "payment_declined"
    assert body["detail"] == "The payment was declined and nothing was charged. You can try again."
    failed = Payment.objects.get()
    assert body["payment"]["id"] == failed.pk
    assert body["payment"]["status"] == "failed"
    assert failed.status == PaymentStatus.FAILED

    retried = api.post(payments_url(job.pk), {"simulate_failure": False}, format="json")

    assert retried.status_code == 201
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == 1


def test_paying_twice_is_409(api_as):
    job = job_done_by(CleanerFactory())
    api = api_as(job.client)
    api.post(payments_url(job.pk))

    response = api.post(payments_url(job.pk))

    assert response.status_code == 409
    assert response.json() == {"detail": "This job has already been paid.", "code": "conflict"}
    assert Payment.objects.count() == 1


@pytest.mark.parametrize("status", [JobStatus.ASSIGNED, JobStatus.IN_PROGRESS, JobStatus.CANCELLED])
def test_paying_a_job_that_is_not_completed_is_409(api_as, status):
    job = job_done_by(CleanerFactory(), status=status)

    response = api_as(job.client).post(payments_url(job.pk))

    assert response.status_code == 409
    assert response.json()["detail"] == "A job can be paid only once it is completed."
    assert not Payment.objects.exists()


def test_the_cleaner_cannot_pay(api_as):
    cleaner = CleanerFactory()
    job = job_done_by(cleaner)

    response = api_as(cleaner).post(payments_url(job.pk))

    assert response.status_code == 403
    assert response.json()["detail"] == "Only the client who posted this job can pay for it."
    assert not Payment.objects.exists()


def test_paying_another_clients_job_is_404(api_as):
    job = job_done_by(CleanerFactory())

    response = api_as(ClientFactory()).post(payments_url(job.pk))

    assert response.status_code == 404
    assert not Payment.objects.exists()


@pytest.mark.parametrize("value", ["maybe", None, [True], {"yes": 1}, 2])
def test_simulate_failure_must_be_a_boolean(api_as, value):
    job = job_done_by(CleanerFactory())

    response = api_as(job.client).post(payments_url(job.pk), {"simulate_failure": value}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["simulate_failure"]
    assert not Payment.objects.exists()


@pytest.mark.parametrize("raw", ["{", "[true]", '"pay"'])
def test_malformed_payment_bodies_are_400(api_as, raw):
    job = job_done_by(CleanerFactory())

    response = api_as(job.client).post(payments_url(job.pk), data=raw, content_type="application/json")

    assert response.status_code == 400
    assert not Payment.objects.exists()


def test_payer_and_payee_list_the_jobs_payments_and_others_do_not(api_as):
    cleaner = CleanerFactory()
    payment = PaymentFactory(payee=cleaner, job__assigned_cleaner=cleaner)
    job = payment.job
    loser = JobBidFactory(job=job, status=BidStatus.REJECTED).cleaner

    for user in (job.client, cleaner):
        response = api_as(user).get(payments_url(job.pk))
        assert response.status_code == 200
        assert [p["id"] for p in response.json()["results"]] == [payment.pk]
    # A rejected bidder still sees the job but none of its payments.
    assert api_as(loser).get(payments_url(job.pk)).json()["count"] == 0
    assert api_as(ClientFactory()).get(payments_url(job.pk)).status_code == 404


# --- messages -------------------------------------------------------------------


def test_client_writes_to_the_assigned_cleaner_without_naming_them(api_as):
    cleaner = CleanerFactory()
    job = job_done_by(cleaner, status=JobStatus.ASSIGNED)

    response = api_as(job.client).post(messages_url(job.pk), {"body": "Key is under the mat."}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["sender"] == job.client_id
    assert body["recipient"] == cleaner.pk
    assert body["recipient_username"] == cleaner.username
    assert body["body"] == "Key is under the mat."
    assert JobMessage.objects.get().recipient == cleaner


def test_client_writes_to_a_bidder_by_id(api_as):
    bid = JobBidFactory()

    response = api_as(bid.job.client).post(
        messages_url(bid.job_id), {"body": "Can you bring a ladder?", "recipient": bid.cleaner_id}, format="json"
    )

    assert response.status_code == 201
    assert JobMessage.objects.get().recipient == bid.cleaner


def test_bidder_writes_to_the_client(api_as):
    bid = JobBidFactory()

    response = api_as(bid.cleaner).post(messages_url(bid.job_id), {"body": "Is parking available?"}, format="json")

    assert response.status_code == 201
    assert response.json()["recipient"] == bid.job.client_id


def test_each_party_lists_only_their_own_conversation(api_as):
    job = CleaningJobFactory()
    first, second = JobBidFactory.create_batch(2, job=job)
    to_first = JobMessageFactory(job=job, recipient=first.cleaner)
    from_first = JobMessageFactory(job=job, sender=first.cleaner, recipient=job.client)
    to_second = JobMessageFactory(job=job, recipient=second.cleaner)

    client_view = api_as(job.client).get(messages_url(job.pk))
    first_view = api_as(first.cleaner).get(messages_url(job.pk))

    assert client_view.status_code == 200
    assert [m["id"] for m in client_view.json()["results"]] == [to_first.pk, from_first.pk, to_second.pk]
    assert [m["id"] for m in first_view.json()["results"]] == [to_first.pk, from_first.pk]
    assert api_as(ClientFactory()).get(messages_url(job.pk)).status_code == 404


def test_client_must_name_a_bidder_before_the_job_is_assigned(api_as):
    bid = JobBidFactory()

    response = api_as(bid.job.client).post(messages_url(bid.job_id), {"body": "Hello?"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"recipient": ["Choose which bidder to write to."]}
    assert not JobMessage.objects.exists()


def test_client_cannot_write_to_a_cleaner_who_did_not_bid(api_as):
    job = CleaningJobFactory()
    stranger = CleanerFactory()

    response = api_as(job.client).post(
        messages_url(job.pk), {"body": "Hello", "recipient": stranger.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"recipient": ["You can only write to cleaners who bid on this job."]}
    assert not JobMessage.objects.exists()


def test_a_cleaner_who_did_not_bid_cannot_write(api_as):
    job = CleaningJobFactory()  # on the cleaner's board, so visible

    response = api_as(CleanerFactory()).post(messages_url(job.pk), {"body": "Hi"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not JobMessage.objects.exists()


def test_writing_about_an_invisible_job_is_404(api_as):
    job = CleaningJobFactory()

    response = api_as(ClientFactory()).post(messages_url(job.pk), {"body": "Hi"}, format="json")

    assert response.status_code == 404
    assert not JobMessage.objects.exists()


@pytest.mark.parametrize(
    "payload, field, message",
    [
        ({}, "body", "This field is required."),
        ({"body": ""}, "body", "This field may not be blank."),
        ({"body": " \n "}, "body", "This field may not be blank."),
        ({"body": None}, "body", "This field may not be null."),
        ({"body": "x" * 4001}, "body", "Ensure this field has no more than 4000 characters."),
        ({"body": "bad\x00byte"}, "body", "Null characters are not allowed."),
        ({"body": {"text": "hi"}}, "body", "Not a valid string."),
        ({"body": "Hi", "recipient": 987654321}, "recipient", 'Invalid pk "987654321" - object does not exist.'),
        ({"body": "Hi", "recipient": 10**30}, "recipient", "object does not exist."),
        ({"body": "Hi", "recipient": "abc"}, "recipient", "A valid integer is required."),
        ({"body": "Hi", "recipient": 1.5}, "recipient", "A valid integer is required."),
        ({"body": "Hi", "recipient": True}, "recipient", "A valid integer is required."),
        ({"body": "Hi", "recipient": [1]}, "recipient", "A valid integer is required."),
        ({"body": "Hi", "recipient": "1\x00"}, "recipient", "A valid integer is required."),
    ],
)
def test_invalid_messages_are_field_errors(api_as, payload, field, message):
    bid = JobBidFactory()

    response = api_as(bid.job.client).post(messages_url(bid.job_id), payload, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert not JobMessage.objects.exists()


@pytest.mark.parametrize("raw", ['{"body": "hi", "recipient": 1e309}', '{"body": "hi", "recipient": NaN}', "{"])
def test_malformed_message_bodies_are_400(api_as, raw):
    bid = JobBidFactory()

    response = api_as(bid.job.client).post(messages_url(bid.job_id), data=raw, content_type="application/json")

    assert response.status_code == 400
    assert not JobMessage.objects.exists()


def test_message_sending_is_throttled_but_reading_is_not(api_as, throttle_rate):
    throttle_rate("message_send", "2/min")
    bid = JobBidFactory()
    api = api_as(bid.cleaner)

    statuses = [api.post(messages_url(bid.job_id), {"body": f"#{n}"}, format="json").status_code for n in range(3)]
    response = api.post(messages_url(bid.job_id), {"body": "again"}, format="json")

    assert statuses == [201, 201, 429]
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert JobMessage.objects.count() == 2
    assert api.get(messages_url(bid.job_id)).status_code == 200
