"""The job page's buttons and forms: bids, job transitions, payment, messages (POST, then redirect)."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from project.exceptions import DomainError

from .. import selectors, services
from ..forms import BidForm, MessageForm, add_service_errors
from ..money import format_money
from ..models import PaymentStatus, user_display_name
from .common import job_url, perform, throttled, too_many, visible_bid, visible_job
from .job_page import client_recipients, render_job

User = get_user_model()


@login_required
@require_POST
def bid_place(request, job_id: int):
    job = visible_job(request, job_id)
    form = BidForm(request.POST)
    if wait := throttled(request, form, scope="bid_place"):
        return too_many(render_job(request, job, bid_form=form), wait)
    if form.is_valid():
        try:
            services.bid_place(job=job, cleaner=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(job_url(job.pk))
        else:
            messages.success(request, "Your bid is in. The client has been told.")
            return redirect(job_url(job.pk))
    return render_job(request, job, bid_form=form, status=400)


@login_required
@require_POST
def bid_accept(request, bid_id: int):
    bid = visible_bid(request, bid_id)
    return perform(
        request, job_url(bid.job_id), lambda: services.bid_accept(bid=bid, client=request.user),
        f"You accepted {user_display_name(bid.cleaner)}'s bid. The other bidders are told.",
    )


@login_required
@require_POST
def bid_reject(request, bid_id: int):
    bid = visible_bid(request, bid_id)
    return perform(
        request, job_url(bid.job_id), lambda: services.bid_reject(bid=bid, client=request.user),
        f"You declined {user_display_name(bid.cleaner)}'s bid.",
    )


@login_required
@require_POST
def bid_withdraw(request, bid_id: int):
    bid = visible_bid(request, bid_id)
    target = _safe_next(request) or job_url(bid.job_id)
    return perform(request, target, lambda: services.bid_withdraw(bid=bid, cleaner=request.user), "Your bid is withdrawn.")


def _safe_next(request) -> str | None:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return None


# --- job transitions and payment --------------------------------------------------


@login_required
@require_POST
def job_start(request, job_id: int):
    job = visible_job(request, job_id)
    return perform(
        request, job_url(job.pk), lambda: services.job_start(job=job, cleaner=request.user),
        "Job started. The client has been told.",
    )


@login_required
@require_POST
def job_complete(request, job_id: int):
    job = visible_job(request, job_id)
    return perform(
        request, job_url(job.pk), lambda: services.job_complete(job=job, cleaner=request.user),
        "Marked as completed. The client can now pay.",
    )


@login_required
@require_POST
def job_cancel(request, job_id: int):
    job = visible_job(request, job_id)
    return perform(
        request, job_url(job.pk), lambda: services.job_cancel(job=job, client=request.user),
        "The job is cancelled. Everyone involved has been told.",
    )


def _payment_outcome(payment) -> tuple[int, str]:
    if payment.status == PaymentStatus.SUCCEEDED:
        return messages.SUCCESS, f"Paid {format_money(payment.amount)}. Thank you!"
    return messages.ERROR, "The payment was declined. Nothing was charged; you can try again."


@login_required
@require_POST
def job_pay(request, job_id: int):
    job = visible_job(request, job_id)
    return perform(request, job_url(job.pk), lambda: services.payment_create(job=job, payer=request.user), _payment_outcome)


# --- messages ----------------------------------------------------------------------


@login_required
@require_POST
def message_send(request, job_id: int):
    job = visible_job(request, job_id)
    recipients = None
    if job.client_id == request.user.pk:
        recipients = client_recipients(job, selectors.job_bids_visible_to(job=job, user=request.user))
        if not recipients:
            messages.error(request, "You can write to cleaners once they bid on this job.")
            return redirect(job_url(job.pk, "#messages"))
    form = MessageForm(request.POST, recipients=recipients)
    if wait := throttled(request, form, scope="message_send"):
        return too_many(render_job(request, job, message_form=form), wait)
    if form.is_valid():
        recipient_id = form.cleaned_data.get("recipient")
        recipient = User.objects.filter(pk=recipient_id).first() if recipient_id else None
        try:
            services.message_send(job=job, sender=request.user, body=form.cleaned_data["body"], recipient=recipient)
        except ValidationError as exc:
            add_service_errors(form, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(job_url(job.pk, "#messages"))
        else:
            return redirect(job_url(job.pk, "#messages"))
    return render_job(request, job, message_form=form, status=400)
