"""The cleaner's profile page: what decides which job offers they get, and the means to change it.

Thin like the other pages: a form checks the shape, a service in jobs/cleaner_profiles.py
applies the rules, then POST-redirect-GET.
"""

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from .. import cleaner_profiles, selectors
from ..forms import CleanerProfileForm, DayOffForm, add_service_errors
from ..geocoding import gazetteer
from ..models import CleanerProfile

NEAR_KM = 1.5


def _day_label(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B}"


def _profile_or_none(request) -> CleanerProfile | None:
    return CleanerProfile.objects.filter(user_id=request.user.pk).first()


def _render(request, profile: CleanerProfile, *, form=None, day_off_form=None, status: int = 200):
    if form is None:
        form = CleanerProfileForm(
            initial={
                "service_types": profile.service_types,
                "working_days": profile.working_days,
                "service_radius_km": f"{profile.service_radius_km:g}",
                "service_area_address": profile.service_area_address,
                "service_area_city": profile.service_area_city,
            }
        )
    days_off = profile.unavailable_days.filter(date__gte=timezone.localdate()).order_by("date")
    near = None
    if not profile.service_area_address:
        # Placed by coordinates (the admin, the demo seed): say where that is in words if we can.
        near = gazetteer().nearest(latitude=profile.latitude, longitude=profile.longitude, within_km=NEAR_KM)
    context = {
        "profile": profile,
        "near": near,
        "form": form,
        "day_off_form": day_off_form or DayOffForm(),
        "days_off": list(days_off),
        "today": timezone.localdate(),
    }
    return render(request, "jobs/profile.html", context, status=status)


@login_required
def profile(request):
    profile = _profile_or_none(request)
    if profile is None:
        messages.info(request, "Only cleaners have a profile; clients post jobs.")
        return redirect("jobs:mine")
    if request.method != "POST":
        return _render(request, profile)
    form = CleanerProfileForm(request.POST)
    if form.is_valid():
        try:
            cleaner_profiles.cleaner_profile_update(cleaner=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Profile saved. The next jobs posted are matched against it.")
            return redirect("jobs:profile")
    return _render(request, profile, form=form, status=400)


@login_required
@require_POST
def day_off_add(request):
    profile = _profile_or_none(request)
    if profile is None:
        return redirect("jobs:mine")
    form = DayOffForm(request.POST)
    if form.is_valid():
        try:
            day_off = cleaner_profiles.cleaner_day_off_add(cleaner=request.user, day=form.cleaned_data["day"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{_day_label(day_off.date)} is a day off: no offers for jobs starting then.")
            return redirect("jobs:profile")
    return _render(request, profile, day_off_form=form, status=400)


@login_required
@require_POST
def day_off_remove(request):
    if not selectors.user_is_cleaner(user=request.user):
        return redirect("jobs:mine")
    form = DayOffForm(request.POST)
    if form.is_valid() and cleaner_profiles.cleaner_day_off_remove(cleaner=request.user, day=form.cleaned_data["day"]):
        messages.success(request, f"{_day_label(form.cleaned_data['day'])} is a working day again.")
    return redirect("jobs:profile")
