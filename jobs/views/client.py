"""The client's own pages: post a job, and the list of their jobs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from project.exceptions import DomainError

from .. import selectors, services
from ..forms import JobForm, add_service_errors
from ..models import BidStatus, JobStatus
from .common import PAGE_SIZE, is_cleaner, job_url, throttled, too_many

@login_required
def job_create(request):
    if is_cleaner(request):
        messages.info(request, "Cleaners find work on the job board; only clients post jobs.")
        return redirect("jobs:board")
    form = JobForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if wait := throttled(request, form, scope="job_create"):
            return too_many(render(request, "jobs/job_form.html", {"form": form}), wait)
        if form.is_valid():
            try:
                job = services.job_create(client=request.user, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, "Your job is posted. Cleaners nearby are being told now.")
                return redirect(job_url(job.pk))
        return render(request, "jobs/job_form.html", {"form": form}, status=400)
    return render(request, "jobs/job_form.html", {"form": form})


@login_required
@require_GET
def my_jobs(request):
    if is_cleaner(request):
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
