"""The job page: one page for the client and the cleaners, and the fragments its script re-fetches."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from notifications.reasons import offer_reason_for

from .. import selectors
from ..actions import job_actions_for
from ..forms import BidForm, MessageForm
from ..models import LIVE_BID_STATUSES, BidStatus, CleaningJob, JobStatus, PaymentStatus, user_display_name
from .common import is_cleaner, visible_job

FRAGMENTS = {
    "status": "jobs/_job_status.html",
    "bids": "jobs/_job_bids.html",
    "messages": "jobs/_job_thread.html",
}
TIMELINE = [
    (JobStatus.OPEN, "Posted"),
    (JobStatus.ASSIGNED, "Assigned"),
    (JobStatus.IN_PROGRESS, "In progress"),
    (JobStatus.COMPLETED, "Completed"),
    ("paid", "Paid"),
]


def job_context(request, job: CleaningJob, *, bid_form=None, message_form=None) -> dict:
    user = request.user
    viewer_is_cleaner = is_cleaner(request)
    is_owner = job.client_id == user.pk
    bids = list(selectors.job_bids_visible_to(job=job, user=user))
    payments = list(selectors.job_payments_visible_to(job=job, user=user))
    paid = any(p.status == PaymentStatus.SUCCEEDED for p in payments)
    live_bid = next((b for b in bids if b.cleaner_id == user.pk and b.status in LIVE_BID_STATUSES), None)
    actions = job_actions_for(job=job, user=user)

    # The page offers no conversation across a block; the service refuses one anyway.
    recipients = None
    messaging_blocked = False
    if is_owner:
        blocked = selectors.cleaner_ids_blocked_by(client_id=user.pk)
        recipients = [(pk, name) for pk, name in client_recipients(job, bids) if pk not in blocked]
        can_message = bool(recipients)
    else:
        can_message = viewer_is_cleaner and selectors.job_cleaner_may_message(job=job, cleaner=user)
        messaging_blocked = can_message and selectors.client_has_blocked(client_id=job.client_id, cleaner_id=user.pk)
        can_message = can_message and not messaging_blocked
    if message_form is None and can_message:
        initial = {"recipient": job.assigned_cleaner_id} if job.assigned_cleaner_id else {}
        message_form = MessageForm(recipients=recipients, initial=initial)
    if bid_form is None and actions.can_bid:
        bid_form = BidForm(initial={"amount": job.budget})

    reached = _timeline_position(job, paid)
    timeline = [
        {"label": label, "done": index < reached, "current": index == reached}
        for index, (_key, label) in enumerate(TIMELINE)
    ]
    return {
        "job": job,
        "is_owner": is_owner,
        "is_cleaner": viewer_is_cleaner,
        "is_assigned": job.assigned_cleaner_id == user.pk,
        "bids": bids,
        "live_bid": live_bid,
        "accepted_bid": next((b for b in bids if b.status == BidStatus.ACCEPTED), None),
        "actions": actions,
        "bid_form": bid_form,
        "payments": payments,
        "paid": paid,
        "thread": list(selectors.job_messages_visible_to(job=job, user=user)),
        "can_message": can_message,
        "messaging_blocked": messaging_blocked,
        "message_form": message_form,
        "timeline": timeline,
    }


def client_recipients(job: CleaningJob, bids) -> list[tuple[int, str]]:
    """Whom the client may write to: every cleaner who bid, and the assigned one."""
    people = {}
    if job.assigned_cleaner_id:
        people[job.assigned_cleaner_id] = job.assigned_cleaner
    for bid in bids:
        people.setdefault(bid.cleaner_id, bid.cleaner)
    return [(pk, user_display_name(person)) for pk, person in people.items()]


def _timeline_position(job: CleaningJob, paid: bool) -> int:
    if paid:
        return len(TIMELINE)
    order = [key for key, _label in TIMELINE]
    return order.index(job.status) if job.status in order else -1


def render_job(request, job: CleaningJob, *, status: int = 200, **forms):
    # "Why you got this offer": only the whole page shows it, the fragments never change it.
    offer_reason = offer_reason_for(user=request.user, job_id=job.pk)
    context = job_context(request, job, **forms) | {"offer_reason": offer_reason}
    return render(request, "jobs/job_detail.html", context, status=status)


@login_required
@require_GET
def job_detail(request, job_id: int):
    return render_job(request, visible_job(request, job_id))


@login_required
@require_GET
def job_fragment(request, job_id: int, name: str):
    """One section of the job page, re-fetched by the page's script when a notification about this job arrives."""
    if name not in FRAGMENTS:
        raise Http404
    job = visible_job(request, job_id)
    response = render(request, FRAGMENTS[name], job_context(request, job))
    response["Cache-Control"] = "no-store"
    return response
