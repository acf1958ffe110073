"""Who may do what to a job, each rule stated once: for the services' guards and for the pages.

A `*_refusal` function answers one question ("may this user do X now?") with the
error the service raises when the answer is no (ActionForbidden: not yours to do;
InvalidTransition: not in this state) or None when it is yes. The services raise
that error; `job_actions_for` asks the same functions, so a page offers exactly
the buttons the services accept. Services call these on the row they locked.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from project.exceptions import ActionForbidden, DomainError, InvalidTransition

from . import selectors
from .models import BidStatus, CleaningJob, JobBid, JobStatus

CANCELLABLE_STATUSES = (JobStatus.OPEN, JobStatus.ASSIGNED)


# --- who is asking ----------------------------------------------------------------


def client_only_refusal(*, user) -> DomainError | None:
    if selectors.user_is_cleaner(user=user):
        return ActionForbidden("Only clients can do this; cleaners bid on jobs instead.")
    return None


def cleaner_only_refusal(*, user, is_cleaner: bool | None = None) -> DomainError | None:
    """is_cleaner: when the caller already knows (read with other facts); else asked here."""
    if not (selectors.user_is_cleaner(user=user) if is_cleaner is None else is_cleaner):
        return ActionForbidden("Only cleaners can do this.")
    return None


def _not_started_refusal(job: CleaningJob, consequence: str) -> DomainError | None:
    # Bids are for work ahead: once the start has passed, nobody can still turn up on time.
    if job.scheduled_start <= timezone.now():
        return InvalidTransition(f"This job's start time has passed, so {consequence}.")
    return None


# --- bids -------------------------------------------------------------------------


def bid_place_refusal(*, job: CleaningJob, cleaner, facts: selectors.BidderFacts | None = None) -> DomainError | None:
    """`facts`: read with the locked job by the service (selectors.job_for_bid); else read here in one query."""
    if facts is None:
        facts = selectors.bidder_facts(job=job, cleaner=cleaner)
    if refusal := cleaner_only_refusal(user=cleaner, is_cleaner=facts.is_cleaner):
        return refusal
    if job.client_id == cleaner.pk:
        return ActionForbidden("You cannot bid on your own job.")
    if job.status != JobStatus.OPEN:
        return InvalidTransition("This job is no longer open for bids.")
    if refusal := _not_started_refusal(job, "it takes no more bids"):
        return refusal
    if facts.blocked:
        return ActionForbidden("You cannot bid on this client's jobs: they have blocked you.")
    # Open, ahead, not their own, not blocked: what is left of the board's rule is eligibility.
    if not facts.on_board:
        return ActionForbidden("You are not eligible for this job.")
    if facts.has_live_bid:
        return InvalidTransition("You already have a live bid on this job.")
    return None


def bid_accept_refusal(*, job: CleaningJob, client) -> DomainError | None:
    """May `client` accept a pending bid on `job`? (Whether that bid is still pending is the bid's own check.)"""
    if job.client_id != client.pk:
        return ActionForbidden("Only the client who posted this job can accept bids.")
    if job.status != JobStatus.OPEN:
        return InvalidTransition("This job already has an accepted bid or is no longer open.")
    return _not_started_refusal(job, "no bid can be accepted")


def bid_reject_refusal(*, job: CleaningJob, client) -> DomainError | None:
    if job.client_id != client.pk:
        return ActionForbidden("Only the client who posted this job can reject bids.")
    return None


def bid_withdraw_refusal(*, bid: JobBid, cleaner) -> DomainError | None:
    if bid.cleaner_id != cleaner.pk:
        return ActionForbidden("Only the cleaner who placed this bid can withdraw it.")
    return bid_pending_refusal(bid=bid, verb="withdrawn")


def bid_pending_refusal(*, bid: JobBid, verb: str) -> DomainError | None:
    """Only a pending bid can be accepted, rejected or withdrawn."""
    if bid.status != BidStatus.PENDING:
        return InvalidTransition(f"This bid is {bid.status} and cannot be {verb}.")
    return None


# --- the job's own moves -----------------------------------------------------------


def _assigned_cleaner_refusal(job: CleaningJob, cleaner, *, expected: str, verb: str, done: str) -> DomainError | None:
    if job.assigned_cleaner_id != cleaner.pk:
        return ActionForbidden(f"Only the cleaner assigned to this job can {verb} it.")
    if job.status != expected:
        return InvalidTransition(f"A job that is {job.get_status_display().lower()} cannot be {done}.")
    return None


def job_start_refusal(*, job: CleaningJob, cleaner) -> DomainError | None:
    return _assigned_cleaner_refusal(job, cleaner, expected=JobStatus.ASSIGNED, verb="start", done="started")


def job_complete_refusal(*, job: CleaningJob, cleaner) -> DomainError | None:
    return _assigned_cleaner_refusal(job, cleaner, expected=JobStatus.IN_PROGRESS, verb="complete", done="completed")


def job_cancel_refusal(*, job: CleaningJob, client) -> DomainError | None:
    if job.client_id != client.pk:
        return ActionForbidden("Only the client who posted this job can cancel it.")
    if job.status not in CANCELLABLE_STATUSES:
        return InvalidTransition(f"A job that is {job.get_status_display().lower()} cannot be cancelled.")
    return None


def payment_create_refusal(*, job: CleaningJob, payer) -> DomainError | None:
    if job.client_id != payer.pk:
        return ActionForbidden("Only the client who posted this job can pay for it.")
    if job.status != JobStatus.COMPLETED:
        return InvalidTransition("A job can be paid only once it is completed.")
    if selectors.job_is_paid(job=job):
        return InvalidTransition("This job has already been paid.")
    return None


# --- what the job page offers -------------------------------------------------------


@dataclass(frozen=True)
class JobActions:
    """The buttons a job page shows one user; each is True exactly when the service would accept it.

    refusals: for each action not offered, the message its service would answer with.
    amount_due: what paying would charge (set only when the user can pay).
    """

    can_bid: bool = False
    can_accept_bids: bool = False
    can_reject_bids: bool = False
    can_withdraw: bool = False  # the user's own live bid
    can_start: bool = False
    can_complete: bool = False
    can_cancel: bool = False
    can_pay: bool = False
    amount_due: Decimal | None = None
    refusals: dict[str, str] = field(default_factory=dict)


def job_actions_for(*, job: CleaningJob, user) -> JobActions:
    live_bid = selectors.job_live_bid_for(job=job, cleaner=user)
    checks = {
        "bid": bid_place_refusal(job=job, cleaner=user),
        "accept_bids": bid_accept_refusal(job=job, client=user),
        "reject_bids": bid_reject_refusal(job=job, client=user),
        "withdraw": (
            bid_withdraw_refusal(bid=live_bid, cleaner=user)
            if live_bid is not None
            else InvalidTransition("You have no bid to withdraw.")
        ),
        "start": job_start_refusal(job=job, cleaner=user),
        "complete": job_complete_refusal(job=job, cleaner=user),
        "cancel": job_cancel_refusal(job=job, client=user),
        "pay": payment_create_refusal(job=job, payer=user),
    }
    allowed = {name: refusal is None for name, refusal in checks.items()}
    return JobActions(
        **{f"can_{name}": ok for name, ok in allowed.items()},
        amount_due=selectors.job_price(job=job) if allowed["pay"] else None,
        refusals={name: refusal.message for name, refusal in checks.items() if refusal is not None},
    )
