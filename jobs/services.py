"""Writes: every business rule of the marketplace, each in one transaction.

Services take keyword-only arguments, raise project.exceptions errors (or Django's
ValidationError for field errors) and never trust the caller to have checked. Who may
do what is asked of jobs/actions.py, on the locked row, so the pages offer the same.
Notifications follow from the saves here through notifications/signals.py.
"""

import math
import uuid
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from project.exceptions import ActionForbidden, DomainError, InvalidTransition, NotFound

from . import actions, selectors
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


def _refuse(refusal: DomainError | None) -> None:
    """Raise what jobs/actions.py found wrong, if anything: the job page asks it the same question."""
    if refusal is not None:
        raise refusal


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
    _refuse(actions.client_only_refusal(user=client))
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


@transaction.atomic
def job_start(*, job: CleaningJob, cleaner) -> CleaningJob:
    job = _lock_job(job.pk)
    _refuse(actions.job_start_refusal(job=job, cleaner=cleaner))
    return _job_set_status(job, JobStatus.IN_PROGRESS)


@transaction.atomic
def job_complete(*, job: CleaningJob, cleaner) -> CleaningJob:
    job = _lock_job(job.pk)
    _refuse(actions.job_complete_refusal(job=job, cleaner=cleaner))
    return _job_set_status(job, JobStatus.COMPLETED)


@transaction.atomic
def job_cancel(*, job: CleaningJob, client) -> CleaningJob:
    job = _lock_job(job.pk)
    _refuse(actions.job_cancel_refusal(job=job, client=client))
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
    """Place a pending bid. The job is re-read, locked and checked in one query (selectors.job_for_bid)."""
    return _bid_place_atomic(job_id=job.pk, cleaner=cleaner, amount=amount, message=message, hide_invisible=False)


def bid_place_on_visible_job(*, job_id: int, cleaner, amount: Decimal, message: str = "") -> JobBid:
    """bid_place for a job known only by id, as the API has it: NotFound when the cleaner may not
    see the job (jobs_visible_to's rule), as for any object outside the user's view. The same one query."""
    return _bid_place_atomic(job_id=job_id, cleaner=cleaner, amount=amount, message=message, hide_invisible=True)


def _bid_place_atomic(*, job_id: int, cleaner, amount: Decimal, message: str, hide_invisible: bool) -> JobBid:
    try:
        with transaction.atomic():
            return _bid_place(job_id=job_id, cleaner=cleaner, amount=amount, message=message, hide_invisible=hide_invisible)
    except IntegrityError:
        # The partial unique index caught a concurrent duplicate.
        raise InvalidTransition("You already have a live bid on this job.") from None


def _bid_place(*, job_id: int, cleaner, amount: Decimal, message: str, hide_invisible: bool) -> JobBid:
    try:
        job, facts = selectors.job_for_bid(job_id=job_id, cleaner=cleaner)
    except CleaningJob.DoesNotExist:
        raise NotFound("Job not found.") from None
    if hide_invisible and not selectors.job_visible_to_bidder(job=job, facts=facts, user=cleaner):
        raise NotFound("Job not found.")
    _refuse(actions.bid_place_refusal(job=job, cleaner=cleaner, facts=facts))
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
    _refuse(actions.bid_accept_refusal(job=job, client=client))
    bid = JobBid.objects.select_for_update().get(pk=bid.pk)
    _refuse(actions.bid_pending_refusal(bid=bid, verb="accepted"))
    bid.status = BidStatus.ACCEPTED
    bid.save(update_fields=["status", "updated_at"])
    _reject_pending_bids(job=job, keep=bid)
    _job_set_status(job, JobStatus.ASSIGNED, assigned_cleaner_id=bid.cleaner_id)
    bid.job = job
    return bid


@transaction.atomic
def bid_reject(*, bid: JobBid, client) -> JobBid:
    job = _lock_job(bid.job_id)
    _refuse(actions.bid_reject_refusal(job=job, client=client))
    bid = JobBid.objects.select_for_update().get(pk=bid.pk)
    _refuse(actions.bid_pending_refusal(bid=bid, verb="rejected"))
    bid.status = BidStatus.REJECTED
    bid.save(update_fields=["status", "updated_at"])
    return bid


@transaction.atomic
def bid_withdraw(*, bid: JobBid, cleaner) -> JobBid:
    bid = JobBid.objects.select_for_update().get(pk=bid.pk)
    _refuse(actions.bid_withdraw_refusal(bid=bid, cleaner=cleaner))
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
    _refuse(actions.payment_create_refusal(job=job, payer=payer))
    amount = selectors.job_price(job=job)
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
    _refuse(actions.client_only_refusal(user=client))
    if not selectors.user_is_cleaner(user=cleaner):
        raise ValidationError({"cleaner": ["Only cleaners can be blocked."]})
    block, _created = ClientBlock.objects.get_or_create(client=client, cleaner=cleaner)
    return block
