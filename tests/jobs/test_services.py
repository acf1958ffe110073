"""jobs/services.py: every service, every rule.

The factories' defaults make an eligible pair (a plain CleanerFactory() may bid on a
plain CleaningJobFactory()), so each test changes only what it is about.
"""

import dataclasses
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from jobs import selectors, services
from project.exceptions import ActionForbidden, InvalidTransition, NotFound
from jobs.models import (
    MAX_BUDGET,
    BidStatus,
    CleaningJob,
    ClientBlock,
    JobBid,
    JobMessage,
    JobStatus,
    Payment,
    PaymentStatus,
)
from tests.factories import (
    CITY_LAT,
    CITY_LON,
    CleanerFactory,
    CleaningJobFactory,
    ClientBlockFactory,
    ClientFactory,
    JobBidFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def job_kwargs(**overrides):
    kwargs = dict(
        title="Clean my flat",
        service_type="standard",
        address="Damrak 1",
        city="Amsterdam",
        latitude=CITY_LAT,
        longitude=CITY_LON,
        scheduled_start=timezone.now() + timedelta(days=2),
        duration_hours=Decimal("3.0"),
        budget=Decimal("120.00"),
        description="Two rooms.",
    )
    kwargs.update(overrides)
    return kwargs


def field_errors(excinfo) -> dict:
    return excinfo.value.message_dict


def reload(obj):
    obj.refresh_from_db()
    return obj


def job_in(status, *, with_cleaner=True):
    """A job in `status`; with an assigned cleaner so permission checks pass and only the state is tested."""
    cleaner = CleanerFactory() if with_cleaner else None
    return CleaningJobFactory(status=status, assigned_cleaner=cleaner)


def assigned_job():
    job = CleaningJobFactory()
    cleaner = CleanerFactory()
    bid = services.bid_place(job=job, cleaner=cleaner, amount=Decimal("90.00"))
    services.bid_accept(bid=bid, client=job.client)
    return reload(job), cleaner, reload(bid)


def completed_job():
    job, cleaner, bid = assigned_job()
    services.job_start(job=job, cleaner=cleaner)
    services.job_complete(job=job, cleaner=cleaner)
    return reload(job), cleaner, bid


# --- job_create ---------------------------------------------------------------------------


def test_job_create_makes_an_open_job_for_the_client():
    client = ClientFactory()
    job = services.job_create(client=client, **job_kwargs())
    job = reload(job)
    assert job.status == JobStatus.OPEN
    assert job.client == client
    assert job.assigned_cleaner is None
    assert job.title == "Clean my flat"


def test_a_cleaner_cannot_post_a_job():
    with pytest.raises(ActionForbidden):
        services.job_create(client=CleanerFactory(), **job_kwargs())
    assert not CleaningJob.objects.exists()


@pytest.mark.parametrize(
    "field, value",
    [
        ("latitude", 90.0),
        ("latitude", -90.0),
        ("longitude", 180.0),
        ("longitude", -180.0),
        ("title", "t" * 120),
        ("description", "d" * 4000),
        ("description", ""),
        ("address", "a" * 255),
        ("city", "c" * 100),
        ("duration_hours", Decimal("0.5")),
        ("duration_hours", Decimal("72")),
        ("budget", Decimal("1")),
        ("budget", MAX_BUDGET),
        ("service_type", "post_construction"),
    ],
)
def test_job_create_accepts_values_on_the_boundary(field, value):
    job = services.job_create(client=ClientFactory(), **job_kwargs(**{field: value}))
    assert getattr(reload(job), field) == value


@pytest.mark.parametrize(
    "field, value",
    [
        ("latitude", 90.0001),
        ("latitude", -90.0001),
        ("latitude", float("nan")),
        ("longitude", 180.0001),
        ("longitude", -180.0001),
        ("longitude", float("inf")),
        ("title", "t" * 121),
        ("title", ""),
        ("description", "d" * 4001),
        ("address", "a" * 256),
        ("address", ""),
        ("city", "c" * 101),
        ("service_type", "laundry"),
        ("service_type", ""),
        ("duration_hours", Decimal("0.4")),
        ("duration_hours", Decimal("72.1")),
        ("budget", Decimal("0.99")),
        ("budget", Decimal("-10")),
        ("budget", MAX_BUDGET + Decimal("0.01")),
        ("budget", Decimal("10.001")),
        ("scheduled_start", None),
    ],
)
def test_job_create_rejects_bad_input_with_the_field_name(field, value):
    with pytest.raises(ValidationError) as excinfo:
        services.job_create(client=ClientFactory(), **job_kwargs(**{field: value}))
    assert field in field_errors(excinfo)
    assert not CleaningJob.objects.exists()


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(seconds=-1), timedelta(days=-3)])
def test_job_create_needs_a_start_in_the_future(delta):
    with pytest.raises(ValidationError) as excinfo:
        services.job_create(client=ClientFactory(), **job_kwargs(scheduled_start=timezone.now() + delta))
    assert list(field_errors(excinfo)) == ["scheduled_start"]
    assert not CleaningJob.objects.exists()


def test_job_create_reports_every_bad_field_at_once():
    with pytest.raises(ValidationError) as excinfo:
        services.job_create(
            client=ClientFactory(), **job_kwargs(title="", latitude=123.0, description="x" * 5000)
        )
    assert {"title", "latitude", "description"} <= set(field_errors(excinfo))


# --- the job state machine -------------------------------------------------------------------

ALLOWED = {
    ("start", JobStatus.ASSIGNED): JobStatus.IN_PROGRESS,
    ("complete", JobStatus.IN_PROGRESS): JobStatus.COMPLETED,
    ("cancel", JobStatus.OPEN): JobStatus.CANCELLED,
    ("cancel", JobStatus.ASSIGNED): JobStatus.CANCELLED,
}


def run_action(action, job):
    if action == "start":
        return services.job_start(job=job, cleaner=job.assigned_cleaner)
    if action == "complete":
        return services.job_complete(job=job, cleaner=job.assigned_cleaner)
    return services.job_cancel(job=job, client=job.client)


@pytest.mark.parametrize("status", JobStatus.values)
@pytest.mark.parametrize("action", ["start", "complete", "cancel"])
def test_state_machine(action, status):
    job = job_in(status)
    expected = ALLOWED.get((action, status))
    if expected is None:
        with pytest.raises(InvalidTransition):
            run_action(action, job)
        assert reload(job).status == status
    else:
        returned = run_action(action, job)
        assert returned.status == expected
        assert reload(job).status == expected


def test_the_full_happy_path():
    job, cleaner, bid = assigned_job()
    assert job.status == JobStatus.ASSIGNED
    assert job.assigned_cleaner == cleaner
    assert bid.status == BidStatus.ACCEPTED
    services.job_start(job=job, cleaner=cleaner)
    assert reload(job).status == JobStatus.IN_PROGRESS
    services.job_complete(job=job, cleaner=cleaner)
    assert reload(job).status == JobStatus.COMPLETED
    payment = services.payment_create(job=job, payer=job.client)
    assert payment.status == PaymentStatus.SUCCEEDED


def test_only_the_assigned_cleaner_may_start_or_complete():
    job = job_in(JobStatus.ASSIGNED)
    for intruder in (CleanerFactory(), job.client):
        with pytest.raises(ActionForbidden):
            services.job_start(job=job, cleaner=intruder)
    services.job_start(job=job, cleaner=job.assigned_cleaner)
    for intruder in (CleanerFactory(), job.client):
        with pytest.raises(ActionForbidden):
            services.job_complete(job=job, cleaner=intruder)
    assert reload(job).status == JobStatus.IN_PROGRESS


def test_nobody_can_start_an_open_job_without_an_assigned_cleaner():
    job = job_in(JobStatus.OPEN, with_cleaner=False)
    with pytest.raises(ActionForbidden):
        services.job_start(job=job, cleaner=CleanerFactory())


def test_only_the_posting_client_may_cancel():
    job = CleaningJobFactory()
    for intruder in (ClientFactory(), CleanerFactory()):
        with pytest.raises(ActionForbidden):
            services.job_cancel(job=job, client=intruder)
    assert reload(job).status == JobStatus.OPEN


def test_a_stale_job_instance_does_not_fool_the_state_check():
    job = job_in(JobStatus.ASSIGNED)
    stale = CleaningJob.objects.get(pk=job.pk)
    services.job_cancel(job=job, client=job.client)
    with pytest.raises(InvalidTransition):
        services.job_start(job=stale, cleaner=stale.assigned_cleaner)
    assert reload(job).status == JobStatus.CANCELLED


def test_cancel_rejects_pending_bids_and_leaves_the_others():
    job = CleaningJobFactory()
    pending = JobBidFactory.create_batch(2, job=job)
    withdrawn = JobBidFactory(job=job, status=BidStatus.WITHDRAWN)
    already_rejected = JobBidFactory(job=job, status=BidStatus.REJECTED)
    other_job_bid = JobBidFactory()
    services.job_cancel(job=job, client=job.client)
    assert reload(job).status == JobStatus.CANCELLED
    assert {reload(b).status for b in pending} == {BidStatus.REJECTED}
    assert reload(withdrawn).status == BidStatus.WITHDRAWN
    assert reload(already_rejected).status == BidStatus.REJECTED
    assert reload(other_job_bid).status == BidStatus.PENDING


def test_cancelling_an_assigned_job_keeps_the_accepted_bid_and_rejects_nothing_else():
    job, cleaner, bid = assigned_job()
    late = JobBidFactory(job=job, status=BidStatus.WITHDRAWN)
    services.job_cancel(job=job, client=job.client)
    assert reload(job).status == JobStatus.CANCELLED
    assert reload(bid).status == BidStatus.ACCEPTED
    assert reload(late).status == BidStatus.WITHDRAWN


# --- bid_place ----------------------------------------------------------------------------------


def test_bid_place_creates_a_pending_bid():
    job = CleaningJobFactory()
    cleaner = CleanerFactory()
    bid = services.bid_place(job=job, cleaner=cleaner, amount=Decimal("95.50"), message="Tomorrow works.")
    bid = reload(bid)
    assert (bid.job, bid.cleaner, bid.amount, bid.status) == (job, cleaner, Decimal("95.50"), BidStatus.PENDING)
    assert bid.message == "Tomorrow works."


@pytest.mark.parametrize("amount", [Decimal("1"), Decimal("1.00"), MAX_BUDGET, Decimal("250.25")])
def test_bid_amount_on_the_boundary_is_accepted(amount):
    bid = services.bid_place(job=CleaningJobFactory(), cleaner=CleanerFactory(), amount=amount)
    assert reload(bid).amount == amount


@pytest.mark.parametrize(
    "amount",
    [Decimal("0"), Decimal("-1"), Decimal("0.99"), MAX_BUDGET + Decimal("0.01"), Decimal("10.001"), None],
)
def test_bid_amount_must_be_positive_and_bounded(amount):
    with pytest.raises(ValidationError) as excinfo:
        services.bid_place(job=CleaningJobFactory(), cleaner=CleanerFactory(), amount=amount)
    assert "amount" in field_errors(excinfo)
    assert not JobBid.objects.exists()


def test_bid_message_length():
    job = CleaningJobFactory()
    services.bid_place(job=job, cleaner=CleanerFactory(), amount=Decimal("50"), message="m" * 2000)
    with pytest.raises(ValidationError) as excinfo:
        services.bid_place(job=job, cleaner=CleanerFactory(), amount=Decimal("50"), message="m" * 2001)
    assert list(field_errors(excinfo)) == ["message"]
    assert JobBid.objects.count() == 1


def test_a_client_cannot_bid():
    with pytest.raises(ActionForbidden):
        services.bid_place(job=CleaningJobFactory(), cleaner=ClientFactory(), amount=Decimal("50"))


def test_nobody_bids_on_their_own_job():
    cleaner = CleanerFactory()
    own = CleaningJobFactory(client=cleaner)  # posted before they became a cleaner
    with pytest.raises(ActionForbidden, match="own job"):
        services.bid_place(job=own, cleaner=cleaner, amount=Decimal("50"))


@pytest.mark.parametrize("status", [s for s in JobStatus.values if s != JobStatus.OPEN])
def test_nobody_bids_on_a_job_that_is_not_open(status):
    job = job_in(status)
    with pytest.raises(InvalidTransition):
        services.bid_place(job=job, cleaner=CleanerFactory(), amount=Decimal("50"))
    assert not JobBid.objects.exists()


def test_a_blocked_cleaner_cannot_bid_but_a_cleaner_blocked_by_another_client_can():
    job = CleaningJobFactory()
    blocked = CleanerFactory()
    ClientBlockFactory(client=job.client, cleaner=blocked)
    with pytest.raises(ActionForbidden):
        services.bid_place(job=job, cleaner=blocked, amount=Decimal("50"))
    elsewhere = CleanerFactory()
    ClientBlockFactory(cleaner=elsewhere)
    services.bid_place(job=job, cleaner=elsewhere, amount=Decimal("50"))
    assert list(JobBid.objects.values_list("cleaner", flat=True)) == [elsewhere.pk]


@pytest.mark.parametrize(
    "profile",
    [
        {"profile__is_verified": False},
        {"profile__service_types": frozenset({"office"})},
        {"profile__working_days": frozenset()},
        {"profile__latitude": CITY_LAT + 1.0},  # ~111 km away
        {"is_active": False},
    ],
    ids=["unverified", "wrong-service", "not-working", "too-far", "inactive"],
)
def test_an_ineligible_cleaner_cannot_bid(profile):
    with pytest.raises(ActionForbidden, match="not eligible"):
        services.bid_place(job=CleaningJobFactory(), cleaner=CleanerFactory(**profile), amount=Decimal("50"))


def test_one_live_bid_per_cleaner_per_job_and_a_withdrawn_bid_frees_the_slot():
    job = CleaningJobFactory()
    cleaner = CleanerFactory()
    first = services.bid_place(job=job, cleaner=cleaner, amount=Decimal("50"))
    with pytest.raises(InvalidTransition):
        services.bid_place(job=job, cleaner=cleaner, amount=Decimal("45"))
    services.bid_withdraw(bid=first, cleaner=cleaner)
    second = services.bid_place(job=job, cleaner=cleaner, amount=Decimal("45"))
    assert reload(second).status == BidStatus.PENDING
    assert JobBid.objects.filter(job=job, cleaner=cleaner).count() == 2
    # The same cleaner may bid on other jobs meanwhile.
    services.bid_place(job=CleaningJobFactory(), cleaner=cleaner, amount=Decimal("45"))


def test_a_rejected_bid_frees_the_slot_too():
    job = CleaningJobFactory()
    cleaner = CleanerFactory()
    bid = services.bid_place(job=job, cleaner=cleaner, amount=Decimal("50"))
    services.bid_reject(bid=bid, client=job.client)
    services.bid_place(job=job, cleaner=cleaner, amount=Decimal("40"))
    assert JobBid.objects.filter(job=job, cleaner=cleaner, status=BidStatus.PENDING).count() == 1


def test_a_duplicate_that_slips_past_the_check_is_caught_by_the_database(monkeypatch):
    """The race path: the partial unique index raises and the service answers 409."""
    job = CleaningJobFactory()
    cleaner = CleanerFactory()
    services.bid_place(job=job, cleaner=cleaner, amount=Decimal("50"))
    read_job_for_bid = selectors.job_for_bid

    def as_if_no_live_bid(**kwargs):
        job, facts = read_job_for_bid(**kwargs)
        return job, dataclasses.replace(facts, has_live_bid=False)

    monkeypatch.setattr(selectors, "job_for_bid", as_if_no_live_bid)
    with pytest.raises(InvalidTransition, match="already have a live bid"):
        services.bid_place(job=job, cleaner=cleaner, amount=Decimal("45"))
    assert JobBid.objects.filter(job=job, cleaner=cleaner).count() == 1
    # The connection is still usable after the rolled-back savepoint.
    assert JobBid.objects.count() == 1


# --- bid_accept / bid_reject / bid_withdraw ----------------------------------------------------


def test_accept_assigns_the_job_and_rejects_the_other_pending_bids():
    job = CleaningJobFactory()
    winner, loser1, loser2 = JobBidFactory.create_batch(3, job=job)
    withdrawn = JobBidFactory(job=job, status=BidStatus.WITHDRAWN)
    elsewhere = JobBidFactory()
    accepted = services.bid_accept(bid=winner, client=job.client)
    assert accepted.status == BidStatus.ACCEPTED
    assert accepted.job.status == JobStatus.ASSIGNED
    job = reload(job)
    assert job.status == JobStatus.ASSIGNED
    assert job.assigned_cleaner_id == winner.cleaner_id
    assert reload(winner).status == BidStatus.ACCEPTED
    assert reload(loser1).status == reload(loser2).status == BidStatus.REJECTED
    assert reload(withdrawn).status == BidStatus.WITHDRAWN
    assert reload(elsewhere).status == BidStatus.PENDING


def test_accept_is_all_or_nothing(monkeypatch):
    """If any step fails, the accept, the rejections and the job update all roll back."""
    job = CleaningJobFactory()
    winner, loser = JobBidFactory.create_batch(2, job=job)

    def boom(*args, **kwargs):
        raise RuntimeError("crash after the bids were saved")

    monkeypatch.setattr(services, "_job_set_status", boom)
    with pytest.raises(RuntimeError):
        services.bid_accept(bid=winner, client=job.client)
    assert reload(winner).status == BidStatus.PENDING
    assert reload(loser).status == BidStatus.PENDING
    assert reload(job).status == JobStatus.OPEN


def test_only_the_posting_client_may_accept_or_reject():
    bid = JobBidFactory()
    for intruder in (ClientFactory(), bid.cleaner, CleanerFactory()):
        with pytest.raises(ActionForbidden):
            services.bid_accept(bid=bid, client=intruder)
        with pytest.raises(ActionForbidden):
            services.bid_reject(bid=bid, client=intruder)
    assert reload(bid).status == BidStatus.PENDING


@pytest.mark.parametrize("status", [BidStatus.ACCEPTED, BidStatus.REJECTED, BidStatus.WITHDRAWN])
def test_only_a_pending_bid_can_be_accepted_rejected_or_withdrawn(status):
    bid = JobBidFactory(status=status)
    with pytest.raises(InvalidTransition):
        services.bid_accept(bid=bid, client=bid.job.client)
    with pytest.raises(InvalidTransition):
        services.bid_reject(bid=bid, client=bid.job.client)
    with pytest.raises(InvalidTransition):
        services.bid_withdraw(bid=bid, cleaner=bid.cleaner)
    assert reload(bid).status == status


@pytest.mark.parametrize("status", [s for s in JobStatus.values if s != JobStatus.OPEN])
def test_no_bid_can_be_accepted_once_the_job_is_not_open(status):
    bid = JobBidFactory(job=job_in(status))
    with pytest.raises(InvalidTransition):
        services.bid_accept(bid=bid, client=bid.job.client)
    assert reload(bid).status == BidStatus.PENDING


def test_a_second_accept_on_the_same_job_is_a_conflict():
    job = CleaningJobFactory()
    first, second = JobBidFactory.create_batch(2, job=job)
    services.bid_accept(bid=first, client=job.client)
    with pytest.raises(InvalidTransition):
        services.bid_accept(bid=second, client=job.client)
    assert reload(job).assigned_cleaner_id == first.cleaner_id


def test_reject_one_bid_leaves_the_job_open_and_the_others_pending():
    job = CleaningJobFactory()
    rejected, other = JobBidFactory.create_batch(2, job=job)
    assert services.bid_reject(bid=rejected, client=job.client).status == BidStatus.REJECTED
    assert reload(rejected).status == BidStatus.REJECTED
    assert reload(other).status == BidStatus.PENDING
    assert reload(job).status == JobStatus.OPEN


def test_only_the_bidding_cleaner_may_withdraw():
    bid = JobBidFactory()
    for intruder in (CleanerFactory(), bid.job.client):
        with pytest.raises(ActionForbidden):
            services.bid_withdraw(bid=bid, cleaner=intruder)
    assert services.bid_withdraw(bid=bid, cleaner=bid.cleaner).status == BidStatus.WITHDRAWN
    assert reload(bid).status == BidStatus.WITHDRAWN


# --- payments -----------------------------------------------------------------------------------


def test_payment_pays_the_assigned_cleaner_the_accepted_amount():
    job, cleaner, bid = completed_job()
    payment = services.payment_create(job=job, payer=job.client)
    payment = reload(payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert (payment.payer, payment.payee, payment.amount) == (job.client, cleaner, Decimal("90.00"))
    assert payment.provider_reference.startswith("sim_")


def test_payment_without_an_accepted_bid_pays_the_budget():
    job = job_in(JobStatus.COMPLETED)
    payment = services.payment_create(job=job, payer=job.client)
    assert (payment.amount, payment.payee_id) == (job.budget, job.assigned_cleaner_id)


@pytest.mark.parametrize("status", [s for s in JobStatus.values if s != JobStatus.COMPLETED])
def test_payment_only_for_a_completed_job(status):
    job = job_in(status)
    with pytest.raises(InvalidTransition):
        services.payment_create(job=job, payer=job.client)
    assert not Payment.objects.exists()


def test_payment_only_once():
    job, _cleaner, _bid = completed_job()
    services.payment_create(job=job, payer=job.client)
    with pytest.raises(InvalidTransition, match="already been paid"):
        services.payment_create(job=job, payer=job.client)
    with pytest.raises(InvalidTransition):
        services.payment_create(job=job, payer=job.client, simulate_failure=True)
    assert Payment.objects.filter(job=job).count() == 1


def test_a_declined_payment_is_stored_as_failed_and_a_retry_succeeds():
    job, cleaner, _bid = completed_job()
    failed = services.payment_create(job=job, payer=job.client, simulate_failure=True)
    assert reload(failed).status == PaymentStatus.FAILED
    assert failed.provider_reference == ""
    failed_again = services.payment_create(job=job, payer=job.client, simulate_failure=True)
    assert reload(failed_again).status == PaymentStatus.FAILED
    paid = services.payment_create(job=job, payer=job.client)
    assert reload(paid).status == PaymentStatus.SUCCEEDED
    assert list(Payment.objects.filter(job=job).order_by("pk").values_list("status", flat=True)) == [
        PaymentStatus.FAILED,
        PaymentStatus.FAILED,
        PaymentStatus.SUCCEEDED,
    ]


def test_only_the_posting_client_may_pay():
    job, cleaner, _bid = completed_job()
    for intruder in (ClientFactory(), cleaner):
        with pytest.raises(ActionForbidden):
            services.payment_create(job=job, payer=intruder)
    assert not Payment.objects.exists()


# --- messages -----------------------------------------------------------------------------------


def test_the_client_writes_to_the_assigned_cleaner_by_default():
    job, cleaner, _bid = assigned_job()
    message = services.message_send(job=job, sender=job.client, body="See you at nine.")
    assert (message.sender, message.recipient_id, message.body) == (job.client, cleaner.pk, "See you at nine.")


def test_the_client_must_choose_a_bidder_while_nobody_is_assigned():
    bid = JobBidFactory()
    job = bid.job
    with pytest.raises(ValidationError) as excinfo:
        services.message_send(job=job, sender=job.client, body="Hello?")
    assert "recipient" in field_errors(excinfo)
    message = services.message_send(job=job, sender=job.client, recipient=bid.cleaner, body="Can you bring a ladder?")
    assert message.recipient == bid.cleaner


def test_the_client_cannot_write_to_a_cleaner_who_did_not_bid():
    JobBidFactory()
    job = CleaningJobFactory()
    JobBidFactory(job=job)
    with pytest.raises(ValidationError) as excinfo:
        services.message_send(job=job, sender=job.client, recipient=CleanerFactory(), body="Hi")
    assert "recipient" in field_errors(excinfo)
    assert not JobMessage.objects.exists()


@pytest.mark.parametrize("status", BidStatus.values)
def test_a_bidder_writes_to_the_client_whatever_the_bid_status(status):
    bid = JobBidFactory(status=status)
    message = services.message_send(job=bid.job, sender=bid.cleaner, body="Is parking available?")
    assert message.recipient == bid.job.client
    services.message_send(job=bid.job, sender=bid.cleaner, recipient=bid.job.client, body="Thanks!")
    assert JobMessage.objects.filter(job=bid.job, sender=bid.cleaner).count() == 2


def test_a_bidder_can_only_write_to_the_client():
    bid = JobBidFactory()
    other_bid = JobBidFactory(job=bid.job)
    with pytest.raises(ValidationError) as excinfo:
        services.message_send(job=bid.job, sender=bid.cleaner, recipient=other_bid.cleaner, body="Hi rival")
    assert "recipient" in field_errors(excinfo)


def test_strangers_cannot_message_about_a_job():
    bid = JobBidFactory()
    for stranger in (CleanerFactory(), ClientFactory()):
        with pytest.raises(ActionForbidden):
            services.message_send(job=bid.job, sender=stranger, body="Hi")
        with pytest.raises(ActionForbidden):
            services.message_send(job=bid.job, sender=stranger, recipient=bid.job.client, body="Hi")
    # A bid on another job does not count.
    other = JobBidFactory()
    with pytest.raises(ActionForbidden):
        services.message_send(job=bid.job, sender=other.cleaner, body="Hi")
    assert not JobMessage.objects.exists()


def test_an_assigned_cleaner_without_a_bid_may_message():
    job = job_in(JobStatus.ASSIGNED)
    message = services.message_send(job=job, sender=job.assigned_cleaner, body="On my way.")
    assert message.recipient == job.client


def test_message_body_is_required_and_bounded():
    job, cleaner, _bid = assigned_job()
    with pytest.raises(ValidationError) as excinfo:
        services.message_send(job=job, sender=cleaner, body="")
    assert list(field_errors(excinfo)) == ["body"]
    services.message_send(job=job, sender=cleaner, body="b" * 4000)
    with pytest.raises(ValidationError) as excinfo:
        services.message_send(job=job, sender=cleaner, body="b" * 4001)
    assert list(field_errors(excinfo)) == ["body"]
    assert JobMessage.objects.count() == 1


# --- blocks -------------------------------------------------------------------------------------


def test_client_blocks_a_cleaner_once():
    client, cleaner = ClientFactory(), CleanerFactory()
    first = services.client_block_cleaner(client=client, cleaner=cleaner)
    again = services.client_block_cleaner(client=client, cleaner=cleaner)
    assert first.pk == again.pk
    assert ClientBlock.objects.count() == 1


def test_only_clients_block_and_only_cleaners_are_blocked():
    with pytest.raises(ActionForbidden):
        services.client_block_cleaner(client=CleanerFactory(), cleaner=CleanerFactory())
    with pytest.raises(ValidationError) as excinfo:
        services.client_block_cleaner(client=ClientFactory(), cleaner=ClientFactory())
    assert "cleaner" in field_errors(excinfo)
    assert not ClientBlock.objects.exists()


def test_a_block_stops_future_bids():
    job = CleaningJobFactory()
    cleaner = CleanerFactory()
    services.client_block_cleaner(client=job.client, cleaner=cleaner)
    with pytest.raises(ActionForbidden):
        services.bid_place(job=job, cleaner=cleaner, amount=Decimal("50"))


# --- races (real PostgreSQL transactions, one connection per thread) ----------------------------


def _race(*calls):
    """Run the calls at the same moment on separate connections; return each result or exception."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_racing_accepts_one_wins_one_gets_a_conflict():
    job = CleaningJobFactory()
    first, second = JobBidFactory.create_batch(2, job=job)
    results = _race(
        lambda: services.bid_accept(bid=first, client=job.client),
        lambda: services.bid_accept(bid=second, client=job.client),
    )
    winners = [r for r in results if isinstance(r, JobBid)]
    conflicts = [r for r in results if isinstance(r, InvalidTransition)]
    assert len(winners) == 1 and len(conflicts) == 1, results
    assert sorted(JobBid.objects.values_list("status", flat=True)) == [BidStatus.ACCEPTED, BidStatus.REJECTED]
    assert reload(job).assigned_cleaner_id == winners[0].cleaner_id


@pytest.mark.django_db(transaction=True)
def test_two_racing_payments_pay_once():
    job = job_in(JobStatus.COMPLETED)
    results = _race(
        lambda: services.payment_create(job=job, payer=job.client),
        lambda: services.payment_create(job=job, payer=job.client),
    )
    assert sorted(type(r).__name__ for r in results) == ["InvalidTransition", "Payment"], results
    assert Payment.objects.filter(job=job, status=PaymentStatus.SUCCEEDED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_racing_bids_from_one_cleaner_leave_one_live_bid():
    job = CleaningJobFactory()
    cleaner = CleanerFactory()
    results = _race(
        lambda: services.bid_place(job=job, cleaner=cleaner, amount=Decimal("50")),
        lambda: services.bid_place(job=job, cleaner=cleaner, amount=Decimal("55")),
    )
    assert sorted(type(r).__name__ for r in results) == ["InvalidTransition", "JobBid"], results
    assert JobBid.objects.filter(job=job, cleaner=cleaner).count() == 1


# --- blocks stop the conversation both ways; started jobs take no bids ---------------


def test_a_blocked_cleaner_cannot_message_the_client_who_blocked_them():
    bid = JobBidFactory()
    ClientBlockFactory(client=bid.job.client, cleaner=bid.cleaner)
    with pytest.raises(ActionForbidden, match="^You cannot message this client: they have blocked you.$"):
        services.message_send(job=bid.job, sender=bid.cleaner, body="hello?")
    assert not JobMessage.objects.exists()


def test_a_client_cannot_message_a_cleaner_they_blocked_chosen_or_assigned():
    bid = JobBidFactory()
    ClientBlockFactory(client=bid.job.client, cleaner=bid.cleaner)
    with pytest.raises(ActionForbidden, match="^You blocked this cleaner: you cannot message them.$"):
        services.message_send(job=bid.job, sender=bid.job.client, body="hi", recipient=bid.cleaner)
    services.bid_accept(bid=bid, client=bid.job.client)  # accepted before they noticed
    with pytest.raises(ActionForbidden, match="^You blocked this cleaner"):
        services.message_send(job=reload(bid.job), sender=bid.job.client, body="hi")
    assert not JobMessage.objects.exists()


def test_a_block_by_another_client_does_not_stop_messages():
    bid = JobBidFactory()
    ClientBlockFactory(cleaner=bid.cleaner)
    services.message_send(job=bid.job, sender=bid.cleaner, body="hello")
    services.message_send(job=bid.job, sender=bid.job.client, body="hi", recipient=bid.cleaner)
    assert JobMessage.objects.count() == 2


def test_a_blocked_cleaner_who_bid_before_cannot_bid_again():
    bid = JobBidFactory()
    services.bid_withdraw(bid=bid, cleaner=bid.cleaner)
    ClientBlockFactory(client=bid.job.client, cleaner=bid.cleaner)
    with pytest.raises(ActionForbidden, match="^You cannot bid on this client's jobs: they have blocked you.$"):
        services.bid_place(job=bid.job, cleaner=bid.cleaner, amount=Decimal("50"))
    assert JobBid.objects.count() == 1


STARTED = "This job's start time has passed, so it takes no more bids."


def test_nobody_bids_on_a_job_whose_start_has_passed():
    job = CleaningJobFactory(scheduled_start=timezone.now() - timedelta(minutes=1))
    with pytest.raises(InvalidTransition, match=f"^{STARTED}$"):
        services.bid_place(job=job, cleaner=CleanerFactory(), amount=Decimal("50"))
    assert not JobBid.objects.exists()


def test_no_bid_is_accepted_once_the_job_start_has_passed():
    bid = JobBidFactory()
    CleaningJob.objects.filter(pk=bid.job_id).update(scheduled_start=timezone.now() - timedelta(seconds=1))
    with pytest.raises(InvalidTransition, match="^This job's start time has passed, so no bid can be accepted.$"):
        services.bid_accept(bid=bid, client=bid.job.client)
    assert reload(bid).status == BidStatus.PENDING
    assert reload(bid.job).status == JobStatus.OPEN


def test_bid_on_a_job_known_by_id_is_not_found_where_the_cleaner_may_not_see_it():
    """The API's door: an invisible job is 'not found', never a reason that tells it exists."""
    job = CleaningJobFactory()
    elsewhere = CleanerFactory(profile__service_types=frozenset({"carpet"}))
    with pytest.raises(ActionForbidden, match="not eligible"):
        services.bid_place(job=job, cleaner=elsewhere, amount=Decimal("50"))
    with pytest.raises(NotFound, match="Job not found"):
        services.bid_place_on_visible_job(job_id=job.pk, cleaner=elsewhere, amount=Decimal("50"))
    with pytest.raises(NotFound, match="Job not found"):
        services.bid_place_on_visible_job(job_id=job.pk + 1000, cleaner=CleanerFactory(), amount=Decimal("50"))
    bid = services.bid_place_on_visible_job(job_id=job.pk, cleaner=CleanerFactory(), amount=Decimal("50"))
    assert bid.job_id == job.pk and bid.status == BidStatus.PENDING
    assert JobBid.objects.filter(job=job).count() == 1
