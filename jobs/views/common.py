"""What every marketplace page shares: who the user is, what they may see, the write budget, the PRG helper."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import pluralize
from django.urls import reverse

from project.exceptions import DomainError, NotFound

from .. import selectors
from ..models import CleaningJob, JobBid
from ..throttles import write_budget_wait

User = get_user_model()

PAGE_SIZE = 20
def is_cleaner(request) -> bool:
    if not hasattr(request, "_is_cleaner"):
        request._is_cleaner = selectors.user_is_cleaner(user=request.user)
    return request._is_cleaner


def error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def visible_job(request, job_id: int) -> CleaningJob:
    jobs = selectors.jobs_visible_to(user=request.user).select_related("client", "assigned_cleaner")
    return get_object_or_404(jobs, pk=job_id)


def visible_bid(request, bid_id: int) -> JobBid:
    return get_object_or_404(selectors.bids_visible_to(user=request.user), pk=bid_id)


def job_url(job_id: int, anchor: str = "") -> str:
    return reverse("jobs:detail", args=[job_id]) + anchor


def throttled(request, form, *, scope: str) -> int | None:
    """Spend one write of `scope` from the user's budget (the API's too); if it is spent,
    put the time to wait on the form and return it, so the caller answers 429 and creates nothing."""
    wait = write_budget_wait(request, scope=scope)
    if wait is not None:
        form.add_error(None, f"You are doing this too often. Try again in {wait} second{pluralize(wait)}.")
    return wait


def too_many(response, wait: int):
    response.status_code = 429
    response["Retry-After"] = str(wait)
    return response


def perform(request, target: str, action, success=None):
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
        messages.error(request, error_text(exc))
    else:
        if callable(success):
            level, text = success(result)
            messages.add_message(request, level, text)
        elif success:
            messages.success(request, success)
    return redirect(target)


