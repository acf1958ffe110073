"""Writes: every business rule of the marketplace, each in one transaction.

Services take keyword-only arguments, raise project.exceptions errors (or Django's
ValidationError for field errors) and never trust the caller to have checked.
Notifications follow from the saves here through notifications/signals.py.
"""

import math
import uuid
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from . import selectors
from project.exceptions import ActionForbidden, InvalidTransition
from .models import (
    BidStatus,
    CleaningJob,
    ClientBlock,
    JobBid,
    JobMessage,
    JobStatus,
    Payment,
    PaymentStatus,
)


def _full_clean(instance, *, exclude=None) -> None:
    """Model validation (lengths, ranges, choices); raises ValidationError with field errors.

    Also checks what Django's model validation skips: a TextField's max_length (only
    forms enforce it) and NaN in a FloatField (NaN passes every range validator).
    """
    errors = {}
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    for field in instance._meta.concrete_fields:
        if field.name in (exclude or ()) or field.name in errors:
            continue
        value = getattr(instance, field.attname)
        if isinstance(field, models.TextField) and field.max_length and value and len(value) > field.max_length:
            errors[field.name] = [f"Ensure this value has at most {field.max_length} characters (it has {len(value)})."]
        elif isinstance(field, models.FloatField) and isinstance(value, float) and not math.isfinite(value):
            errors[field.name] = ["Enter a finite number."]
    if errors:
        raise ValidationError(errors)


def _lock_job(job_id: int) -> CleaningJob:
    """Re-read the job under a row lock so concurrent transitions serialize."""
    return CleaningJob.objects.select_for_update().get(pk=job_id)


def _require_client(user) -> None:
    if selectors.user_is_cleaner(user=user):
        raise ActionForbidden("Only clients can do this; cleaners bid on jobs instead.")


def _require_not_started(job: CleaningJob, consequence: str) -> None:
    # Bids are for work ahead: once the start has passed, nobody can still turn up on time.
    if job.scheduled_start <= timezone.now():
        raise InvalidTransition(f"This job's start time has passed, so {consequence}.")


def _require_cleaner(user) -> None:
    if not selectors.user_is_cleaner(user=user):
        raise ActionForbidden("Only cleaners can do this.")


# --- jobs ---------------------------------------------------------------------


@transaction.atomic
def job_create(
    *,
    client,
    title: str,
    service_type: str,
    address: str,
    city: str,
    latitude: float,
    longitude: float,
    scheduled_start: datetime,
    duration_hours: Decimal,
    budget: Decimal,
    description: str = "",
) -> CleaningJob:
    _require_client(client)
    job = CleaningJob(
        client=client,
        title=title,
        description=description,
        service_type=service_type,
        address=address,
        city=city,
        latitude=latitude,
        longitude=longitude,
        scheduled_start=scheduled_start,
        duration_hours=duration_hours,
        budget=budget,
        status=JobStatus.OPEN,
    )
    _full_clean(job)
    if timezone.is_naive(scheduled_start):
        raise ValidationError({"scheduled_start": ["Give the start with a time zone."]})
    if scheduled_start <= timezone.now():
        raise ValidationError({"scheduled_start": ["The start must be in the future."]})
    job.save()
    return job


def _job_set_status(job: CleaningJob, status: str, **changes) -> CleaningJob:
    job.status = status
    for name, value in changes.items():
        setattr(job, name, value)
    job.save(update_fields=["status", "updated_at", *changes])
    return job


def _assigned_cleaner_moves(*, job: CleaningJob, cleaner, expected: str, to: str, verb: str, done: str) -> CleaningJob:
    job = _lock_job(job.pk)
    if job.assigned_cleaner_id != cleaner.pk:
        raise ActionForbidden(f"Only the cleaner assigned to this job can {verb} it.")
    if job.status != expected:
        raise InvalidTransition(f"A job that is {job.get_status_display().lower()} cannot be {done}.")
    return _job_set_status(job, to)


@transaction.atomic
def job_start(*, job: CleaningJob, cleaner) -> CleaningJob:
    return _assigned_cleaner_moves(
        job=job, cleaner=cleaner, expected=JobStatus.ASSIGNED, to=JobStatus.IN_PROGRESS, verb="start", done="started"
    )


@transaction.atomic
def job_complete(*, job: CleaningJob, cleaner) -> CleaningJob:
    return _assigned_cleaner_moves(
        job=job, cleaner=cleaner, expected=JobStatus.IN_PROGRESS, to=JobStatus.COMPLETED, verb="complete", done="completed"
    )


@transaction.atomic
def job_cancel(*, job: CleaningJob, client) -> CleaningJob:
    job = _lock_job(job.pk)
    if job.client_id != client.pk:
        raise ActionForbidden("Only the client who posted this job can cancel it.")
    if job.status not in (JobStatus.OPEN, JobStatus.ASSIGNED):
        raise InvalidTransition(f"A job that is {job.get_status_display().lower()} cannot be cancelled.")
    # Status first: the job_cancelled event then still sees who was bidding.
    _job_set_status(job, JobStatus.CANCELLED)
    _reject_pending_bids(job=job)
    return job


def _reject_pending_bids(*, job: CleaningJob, keep: JobBid | None = None) -> None:
    # One save per bid so each cleaner's bid_rejected event is recorded; a job has few bids.
    pending = JobBid.objects.select_for_update().filter(job_id=job.pk, status=BidStatus.PENDING)
    if keep is not None:
        pending = pending.exclude(pk=keep.pk)
    for bid in pending:
        bid.status = BidStatus.REJECTED
        bid.save(update_fields=["status", "updated_at"])


# --- bids -----------------------------------------------------------------------


def bid_place(*, job: CleaningJob, cleaner, amount: Decimal, message: str = "") -> JobBid:
    try:
        with transaction.atomic():
            return _bid_place(job=job, cleaner=cleaner, amount=amount, message=message)
    except IntegrityError:
        # The partial unique index caught a concurrent duplicate.
        raise InvalidTransition("You already have a live bid on this job.") from None


def _bid_place(*, job: CleaningJob, cleaner, amount: Decimal, message: str) -> JobBid:
    _require_cleaner(cleaner)
    job = CleaningJob.objects.select_for_update().get(pk=job.pk)
    if job.client_id == cleaner.pk:
        raise ActionForbidden("You cannot bid on your own job.")
    if job.status != JobStatus.OPEN:
        raise InvalidTransition("This job is no longer open for bids.")
    _require_not_started(job, "it takes no more bids")
    if selectors.client_has_blocked(client_id=job.client_id, cleaner_id=cleaner.pk):
        raise ActionForbidden("You cannot bid on this client's jobs: they have blocked you.")
    if not selectors.cleaner_is_eligible_for_job(cleaner=cleaner, job=job):
        raise ActionForbidden("You are not eligible for this job.")
    if selectors.job_live_bid_for(job=job, cleaner=cleaner) is not None:
        raise InvalidTransition("You already have a live bid on this job.")
    bid = JobBid(job=job, cleaner=cleaner, amount=amount, message=message, status=BidStatus.PENDING)
    _full_clean(bid, exclude=["job", "cleaner"])
    bid.save()
    return bid


@transaction.atomic
def bid_accept(*, bid: JobBid, client) -> JobBid:
    """Assign the job to this bid's cleaner and reject every other pending bid.

    The job row lock makes two racing accepts serialize: the second sees the job
    assigned and gets InvalidTransition (409).
    """
    job = _lock_job(bid.job_id)
    if job.client_id != client.pk:
        raise ActionForbidden("Only the client who posted this job can accept bids.")
    if job.status != JobStatus.OPEN:
        raise InvalidTransition("This job already has an accepted bid or is no longer open.")
    _require_not_started(job, "no bid can be accepted")
    bid = JobBid.objects.select_for_update().get(pk=bid.pk)
    if bid.status != BidStatus.PENDING:
        raise InvalidTransition(f"This bid is {bid.status} and cannot be accepted.")
    bid.status = BidStatus.ACCEPTED
    bid.save(update_fields=["status", "updated_at"])
    _reject_pending_bids(job=job, keep=bid)
    _job_set_status(job, JobStatus.ASSIGNED, assigned_cleaner_id=bid.cleaner_id)
    bid.job = job
    return bid


@transaction.atomic
def bid_reject(*, bid: JobBid, client) -> JobBid:
    job = _lock_job(bid.job_id)
    if job.client_id != client.pk:
        raise ActionForbidden("Only the client who posted this job can reject bids.")
    bid = JobBid.objects.select_for_update().get(pk=bid.pk)
    if bid.status != BidStatus.PENDING:
        raise InvalidTransition(f"This bid is {bid.status} and cannot be rejected.")
    bid.status = BidStatus.REJECTED
    bid.save(update_fields=["status", "updated_at"])
    return bid


@transaction.atomic
def bid_withdraw(*, bid: JobBid, cleaner) -> JobBid:
    bid = JobBid.objects.select_for_update().get(pk=bid.pk)
    if bid.cleaner_id != cleaner.pk:
        raise ActionForbidden("Only the cleaner who placed this bid can withdraw it.")
    if bid.status != BidStatus.PENDING:
        raise InvalidTransition(f"This bid is {bid.status} and cannot be withdrawn.")
    bid.status = BidStatus.WITHDRAWN
    bid.save(update_fields=["status", "updated_at"])
    return bid


# --- payments -------------------------------------------------------------------


class PaymentDeclined(Exception):
    pass


def payment_provider_charge(*, amount: Decimal, simulate_failure: bool = False) -> str:
    """The simulated provider: succeeds unless told otherwise; returns a reference."""
    if simulate_failure:
        raise PaymentDeclined("The card was declined.")
    return f"sim_{uuid.uuid4().hex[:24]}"


@transaction.atomic
def payment_create(*, job: CleaningJob, payer, simulate_failure: bool = False) -> Payment:
    """Pay the assigned cleaner the accepted bid's amount, once, for a completed job.

    A declined charge is stored as a failed payment and may be retried.
    """
    job = _lock_job(job.pk)
    if job.client_id != payer.pk:
        raise ActionForbidden("Only the client who posted this job can pay for it.")
    if job.status != JobStatus.COMPLETED:
        raise InvalidTransition("A job can be paid only once it is completed.")
    if Payment.objects.filter(job_id=job.pk, status=PaymentStatus.SUCCEEDED).exists():
        raise InvalidTransition("This job has already been paid.")
    accepted = JobBid.objects.filter(job_id=job.pk, status=BidStatus.ACCEPTED).first()
    amount = accepted.amount if accepted else job.budget
    payment = Payment.objects.create(
        job=job, payer=payer, payee_id=job.assigned_cleaner_id, amount=amount, status=PaymentStatus.PENDING
    )
    try:
        reference = payment_provider_charge(amount=amount, simulate_failure=simulate_failure)
    except PaymentDeclined:
        payment.status = PaymentStatus.FAILED
        payment.save(update_fields=["status", "updated_at"])
        return payment
    payment.status = PaymentStatus.SUCCEEDED
    payment.provider_reference = reference
    payment.save(update_fields=["status", "provider_reference", "updated_at"])
    return payment


# --- messages -------------------------------------------------------------------


@transaction.atomic
def message_send(*, job: CleaningJob, sender, body: str, recipient=None) -> JobMessage:
    """Only the client and a cleaner who bid on or holds the job may talk, to each other."""
    if job.client_id == sender.pk:
        if recipient is None:
            if job.assigned_cleaner_id is None:
                raise ValidationError({"recipient": ["Choose which bidder to write to."]})
            recipient_id = job.assigned_cleaner_id
        else:
            recipient_id = recipient.pk
            if not selectors.job_cleaner_may_message(job=job, cleaner=recipient):
                raise ValidationError({"recipient": ["You can only write to cleaners who bid on this job."]})
    elif selectors.job_cleaner_may_message(job=job, cleaner=sender):
        if recipient is not None and recipient.pk != job.client_id:
            raise ValidationError({"recipient": ["You can only write to the client of this job."]})
        recipient_id = job.client_id
    else:
        raise ActionForbidden("Only the client and cleaners who bid on this job can message about it.")
    _require_no_block_between(job=job, sender=sender, recipient_id=recipient_id)
    message = JobMessage(job=job, sender=sender, recipient_id=recipient_id, body=body)
    _full_clean(message, exclude=["job", "sender", "recipient"])
    message.save()
    return message


# --- blocks ---------------------------------------------------------------------


def _require_no_block_between(*, job: CleaningJob, sender, recipient_id: int) -> None:
    """A block ends the conversation both ways: the blocked cleaner cannot write, nor can the client who blocked."""
    if job.client_id == sender.pk:
        if selectors.client_has_blocked(client_id=sender.pk, cleaner_id=recipient_id):
            raise ActionForbidden("You blocked this cleaner: you cannot message them.")
    elif selectors.client_has_blocked(client_id=recipient_id, cleaner_id=sender.pk):
        raise ActionForbidden("You cannot message this client: they have blocked you.")


@transaction.atomic
def client_block_cleaner(*, client, cleaner) -> ClientBlock:
    _require_client(client)
    if not selectors.user_is_cleaner(user=cleaner):
        raise ValidationError({"cleaner": ["Only cleaners can be blocked."]})
    block, _created = ClientBlock.objects.get_or_create(client=client, cleaner=cleaner)
    return block
