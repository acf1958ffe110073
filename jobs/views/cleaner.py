"""The cleaner's own pages: the job board and their bids."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from .. import selectors
from ..models import LIVE_BID_STATUSES, JobBid
from .common import PAGE_SIZE, is_cleaner

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
    if not is_cleaner(request):
        return redirect("jobs:mine")
    return render(request, "jobs/board.html", {"page": _board_page(request)})


@login_required
@require_GET
def board_fragment(request):
    """The board's list, re-fetched by the page's script when a new job is announced."""
    if not is_cleaner(request):
        raise Http404
    response = render(request, "jobs/_board_list.html", {"page": _board_page(request)})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def my_bids(request):
    if not is_cleaner(request):
        return redirect("jobs:mine")
    bids = selectors.bids_visible_to(user=request.user).filter(cleaner_id=request.user.pk).order_by("-created_at", "-id")
    page = Paginator(bids, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "jobs/my_bids.html", {"page": page})
