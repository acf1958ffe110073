"""Server-rendered marketplace pages. Thin: look up what the user may see, call a service, redirect.

Every form works without JavaScript (POST, redirect, GET). A form with bad input is
rendered again with its field errors (status 400); a form whose write budget is
spent (the same budget as the API's) is rendered again with the time to wait
(status 429) and creates nothing; a refused action (a domain error: forbidden,
wrong state) comes back as a message on the page it was sent from. Objects a user may not see are 404, never 403, so ids leak nothing.
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from project.exceptions import DomainError, NotFound

from . import selectors, services
from .actions import job_actions_for
from .forms import BidForm, JobForm, LoginForm, MessageForm, add_service_errors
from .money import format_money
from .models import LIVE_BID_STATUSES, BidStatus, CleaningJob, JobBid, JobStatus, PaymentStatus
from .throttles import write_budget_wait

User = get_user_model()

PAGE_SIZE = 20
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


def _is_cleaner(request) -> bool:
    if not hasattr(request, "_is_cleaner"):
        request._is_cleaner = selectors.user_is_cleaner(user=request.user)
    return request._is_cleaner


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _visible_job(request, job_id: int) -> CleaningJob:
    jobs = selectors.jobs_visible_to(user=request.user).select_related("client", "assigned_cleaner")
    return get_object_or_404(jobs, pk=job_id)


def _visible_bid(request, bid_id: int) -> JobBid:
    return get_object_or_404(selectors.bids_visible_to(user=request.user), pk=bid_id)


def _job_url(job_id: int, anchor: str = "") -> str:
    return reverse("jobs:detail", args=[job_id]) + anchor


def _throttled(request, form, *, scope: str) -> int | None:
    """Spend one write of `scope` from the user's budget (the API's too); if it is spent,
    put the time to wait on the form and return it, so the caller answers 429 and creates nothing."""
    wait = write_budget_wait(request, scope=scope)
    if wait is not None:
        form.add_error(None, f"You are doing this too often. Try again in {wait} second{pluralize(wait)}.")
    return wait


def _too_many(response, wait: int):
    response.status_code = 429
    response["Retry-After"] = str(wait)
    return response


def _perform(request, target: str, action, success=None):
    """Run one service call for a POST button; a refusal becomes an error message. Then redirect (PRG).

    success: the message to show, or a function of the service's result returning (level, text).
    """
    try:
        result = action()
    except NotFound:
        raise Http404 from None
    except DomainError as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        if callable(success):
            level, text = success(result)
            messages.add_message(request, level, text)
        elif success:
            messages.success(request, success)
    return redirect(target)


# --- login and home ---------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    """Django's login page; a locked login is a 429 with the time to wait on the page."""

    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.locked_for is not None:
            _too_many(response, form.locked_for)
        return response


# --- home -------------------------------------------------------------------------


@login_required
def home(request):
    """Each role starts where it works."""
    return redirect("jobs:board" if _is_cleaner(request) else "jobs:mine")


# --- client: post and list ---------------------------------------------------------


@login_required
def job_create(request):
    if _is_cleaner(request):
        messages.info(request, "Cleaners find work on the job board; only clients post jobs.")
        return redirect("jobs:board")
    form = JobForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if wait := _throttled(request, form, scope="job_create"):
            return _too_many(render(request, "jobs/job_form.html", {"form": form}), wait)
        if form.is_valid():
            try:
                job = services.job_create(client=request.user, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, "Your job is posted. Cleaners nearby are being told now.")
                return redirect(_job_url(job.pk))
        return render(request, "jobs/job_form.html", {"form": form}, status=400)
    return render(request, "jobs/job_form.html", {"form": form})


@login_required
@require_GET
def my_jobs(request):
    if _is_cleaner(request):
        return redirect("jobs:my-bids")
    status = request.GET.get("status", "")
    jobs = selectors.jobs_visible_to(user=request.user).select_related("assigned_cleaner")
    if status == "active":
        jobs = jobs.filter(status__in=[JobStatus.OPEN, JobStatus.ASSIGNED, JobStatus.IN_PROGRESS])
    elif status == "finished":
        jobs = jobs.filter(status__in=[JobStatus.COMPLETED, JobStatus.CANCELLED])
    else:
        status = ""
    jobs = jobs.annotate(pending_bids=Count("bids", filter=Q(bids__status=BidStatus.PENDING))).order_by("-created_at", "-id")
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "jobs/my_jobs.html", {"page": page, "status": status})


# --- the job page ------------------------------------------------------------------


def _job_context(request, job: CleaningJob, *, bid_form=None, message_form=None) -> dict:
    user = request.user
    is_cleaner = _is_cleaner(request)
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
        recipients = [(pk, name) for pk, name in _client_recipients(job, bids) if pk not in blocked]
        can_message = bool(recipients)
    else:
        can_message = is_cleaner and selectors.job_cleaner_may_message(job=job, cleaner=user)
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
        "is_cleaner": is_cleaner,
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


def _client_recipients(job: CleaningJob, bids) -> list[tuple[int, str]]:
    """Whom the client may write to: every cleaner who bid, and the assigned one."""
    people = {}
    if job.assigned_cleaner_id:
        people[job.assigned_cleaner_id] = job.assigned_cleaner
    for bid in bids:
        people.setdefault(bid.cleaner_id, bid.cleaner)
    return [(pk, _display_name(person)) for pk, person in people.items()]


def _timeline_position(job: CleaningJob, paid: bool) -> int:
    if paid:
        return len(TIMELINE)
    order = [key for key, _label in TIMELINE]
    return order.index(job.status) if job.status in order else -1


def _display_name(user) -> str:
    return user.get_full_name() or user.username


def _render_job(request, job: CleaningJob, *, status: int = 200, **forms):
    return render(request, "jobs/job_detail.html", _job_context(request, job, **forms), status=status)


@login_required
@require_GET
def job_detail(request, job_id: int):
    return _render_job(request, _visible_job(request, job_id))


@login_required
@require_GET
def job_fragment(request, job_id: int, name: str):
    """One section of the job page, re-fetched by the page's script when a notification about this job arrives."""
    if name not in FRAGMENTS:
        raise Http404
    job = _visible_job(request, job_id)
    response = render(request, FRAGMENTS[name], _job_context(request, job))
    response["Cache-Control"] = "no-store"
    return response


# --- bids --------------------------------------------------------------------------


@login_required
@require_POST
def bid_place(request, job_id: int):
    job = _visible_job(request, job_id)
    form = BidForm(request.POST)
    if wait := _throttled(request, form, scope="bid_place"):
        return _too_many(_render_job(request, job, bid_form=form), wait)
    if form.is_valid():
        try:
            services.bid_place(job=job, cleaner=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(_job_url(job.pk))
        else:
            messages.success(request, "Your bid is in. The client has been told.")
            return redirect(_job_url(job.pk))
    return _render_job(request, job, bid_form=form, status=400)


@login_required
@require_POST
def bid_accept(request, bid_id: int):
    bid = _visible_bid(request, bid_id)
    return _perform(
        request, _job_url(bid.job_id), lambda: services.bid_accept(bid=bid, client=request.user),
        f"You accepted {_display_name(bid.cleaner)}'s bid. The other bidders are told.",
    )


@login_required
@require_POST
def bid_reject(request, bid_id: int):
    bid = _visible_bid(request, bid_id)
    return _perform(
        request, _job_url(bid.job_id), lambda: services.bid_reject(bid=bid, client=request.user),
        f"You declined {_display_name(bid.cleaner)}'s bid.",
    )


@login_required
@require_POST
def bid_withdraw(request, bid_id: int):
    bid = _visible_bid(request, bid_id)
    target = _safe_next(request) or _job_url(bid.job_id)
    return _perform(request, target, lambda: services.bid_withdraw(bid=bid, cleaner=request.user), "Your bid is withdrawn.")


def _safe_next(request) -> str | None:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return None


# --- job transitions and payment --------------------------------------------------


@login_required
@require_POST
def job_start(request, job_id: int):
    job = _visible_job(request, job_id)
    return _perform(
        request, _job_url(job.pk), lambda: services.job_start(job=job, cleaner=request.user),
        "Job started. The client has been told.",
    )


@login_required
@require_POST
def job_complete(request, job_id: int):
    job = _visible_job(request, job_id)
    return _perform(
        request, _job_url(job.pk), lambda: services.job_complete(job=job, cleaner=request.user),
        "Marked as completed. The client can now pay.",
    )


@login_required
@require_POST
def job_cancel(request, job_id: int):
    job = _visible_job(request, job_id)
    return _perform(
        request, _job_url(job.pk), lambda: services.job_cancel(job=job, client=request.user),
        "The job is cancelled. Everyone involved has been told.",
    )


def _payment_outcome(payment) -> tuple[int, str]:
    if payment.status == PaymentStatus.SUCCEEDED:
        return messages.SUCCESS, f"Paid {format_money(payment.amount)}. Thank you!"
    return messages.ERROR, "The payment was declined. Nothing was charged; you can try again."


@login_required
@require_POST
def job_pay(request, job_id: int):
    job = _visible_job(request, job_id)
    return _perform(request, _job_url(job.pk), lambda: services.payment_create(job=job, payer=request.user), _payment_outcome)


# --- messages ----------------------------------------------------------------------


@login_required
@require_POST
def message_send(request, job_id: int):
    job = _visible_job(request, job_id)
    recipients = None
    if job.client_id == request.user.pk:
        recipients = _client_recipients(job, selectors.job_bids_visible_to(job=job, user=request.user))
        if not recipients:
            messages.error(request, "You can write to cleaners once they bid on this job.")
            return redirect(_job_url(job.pk, "#messages"))
    form = MessageForm(request.POST, recipients=recipients)
    if wait := _throttled(request, form, scope="message_send"):
        return _too_many(_render_job(request, job, message_form=form), wait)
    if form.is_valid():
        recipient_id = form.cleaned_data.get("recipient")
        recipient = User.objects.filter(pk=recipient_id).first() if recipient_id else None
        try:
            services.message_send(job=job, sender=request.user, body=form.cleaned_data["body"], recipient=recipient)
        except ValidationError as exc:
            add_service_errors(form, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(_job_url(job.pk, "#messages"))
        else:
            return redirect(_job_url(job.pk, "#messages"))
    return _render_job(request, job, message_form=form, status=400)


# --- cleaner: the board and my bids ------------------------------------------------


def _board_page(request):
    live_bid = JobBid.objects.filter(job_id=OuterRef("pk"), cleaner_id=request.user.pk, status__in=LIVE_BID_STATUSES)
    jobs = (
        selectors.jobs_open_for_cleaner(cleaner=request.user)
        .annotate(has_bid=Exists(live_bid))
        .order_by("scheduled_start", "id")
    )
    return Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))


@login_required
@require_GET
def board(request):
    if not _is_cleaner(request):
        return redirect("jobs:mine")
    return render(request, "jobs/board.html", {"page": _board_page(request)})


@login_required
@require_GET
def board_fragment(request):
    """The board's list, re-fetched by the page's script when a new job is announced."""
    if not _is_cleaner(request):
        raise Http404
    response = render(request, "jobs/_board_list.html", {"page": _board_page(request)})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def my_bids(request):
    if not _is_cleaner(request):
        return redirect("jobs:mine")
    bids = selectors.bids_visible_to(user=request.user).filter(cleaner_id=request.user.pk).order_by("-created_at", "-id")
    page = Paginator(bids, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "jobs/my_bids.html", {"page": page})
