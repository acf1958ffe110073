"""Notification pages: the full list with filters, read state, mute preferences and quiet hours.

Plain POST forms (no JavaScript needed) that call notifications.services; the
page script does the same through the REST API and the stream.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, StreamingHttpResponse
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs.models import Weekday
from jobs.selectors import user_is_cleaner
from project.exceptions import DomainError, NotFound

from . import personal_data, quiet_hours, selectors, services
from .catalog import GROUP_KEY_MAX_LENGTH, Channel, NotificationType
from .channels.unsubscribe import unsubscribe_token_read

PAGE_SIZE = 20

# Shown on the preferences page: when each type is sent.
WHEN_SENT = {
    NotificationType.JOB_CREATED: "A job you can take is posted near you.",
    NotificationType.BID_RECEIVED: "A cleaner bids on one of your jobs.",
    NotificationType.BID_ACCEPTED: "A client accepts your bid.",
    NotificationType.BID_REJECTED: "A client declines your bid or chooses another.",
    NotificationType.JOB_ASSIGNED: "One of your jobs is assigned to a cleaner.",
    NotificationType.JOB_STARTED: "The cleaner starts your job.",
    NotificationType.JOB_COMPLETED: "The cleaner marks your job as done.",
    NotificationType.JOB_CANCELLED: "A job you bid on or hold is cancelled.",
    NotificationType.PAYMENT_RECEIVED: "You are paid for a job.",
    NotificationType.MESSAGE_RECEIVED: "Someone writes to you about a job.",
    NotificationType.SYSTEM_ALERT: "Announcements from the team. Always on.",
    NotificationType.REMINDER: "The day before a job starts.",
}


class NotificationFilterForm(forms.Form):
    STATES = [("", "All"), ("unread", "Unread"), ("read", "Read")]

    LAYOUTS = [("", "Grouped"), ("flat", "One by one")]

    state = forms.ChoiceField(choices=STATES, required=False, label="Show")
    type = forms.ChoiceField(choices=[("", "All types")] + list(NotificationType.choices), required=False, label="Type")
    layout = forms.ChoiceField(choices=LAYOUTS, required=False, label="Layout")
    # One group's members, one by one (the "see all" of a group entry).
    group = forms.CharField(required=False, max_length=GROUP_KEY_MAX_LENGTH, widget=forms.HiddenInput)


class PreferencesForm(forms.Form):
    """A grid: one row per type, a checkbox per channel it has (In-app, Email, Push); checked means "send me these".

    The in-app field is named after the type (as before the grid); a channel's is "<type>__<channel>".
    """

    # Blank: the default; the range is the service's rule (the API's too).
    job_offer_pushes_per_hour = forms.IntegerField(required=False, label="Job offer pushes per hour")

    def __init__(self, *args, muted: dict[str, bool], channels: dict[str, dict[str, bool]], job_offer_pushes_per_hour=None,
                 gets_job_offers: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.channels = channels
        self._set_up_cap(job_offer_pushes_per_hour, gets_job_offers=gets_job_offers)
        for value, label in NotificationType.choices:
            unmutable = value in selectors.UNMUTABLE_TYPES
            self.fields[value] = forms.BooleanField(
                label=label,
                required=False,
                initial=not muted.get(value, False),
                disabled=unmutable,
                help_text=WHEN_SENT.get(value, ""),
            )
            for channel, is_on in channels[value].items():
                self.fields[f"{value}__{channel}"] = forms.BooleanField(
                    label=f"{label}: {Channel(channel).label}", required=False, initial=is_on
                )

    def _set_up_cap(self, per_hour: int | None, *, gets_job_offers: bool) -> None:
        if not gets_job_offers:  # a client: no job offers, no cap to set
            del self.fields["job_offer_pushes_per_hour"]
            return
        cap = self.fields["job_offer_pushes_per_hour"]
        cap.initial = per_hour
        cap.widget.attrs.update(placeholder=str(settings.JOB_OFFER_PUSHES_PER_HOUR), inputmode="numeric")
        cap.help_text = (
            f"At most this many job offers reach your phone or browser in any hour (blank: {settings.JOB_OFFER_PUSHES_PER_HOUR}; "
            "0 to 60). The rest wait for one push listing the nearest first; the app and the board show them all."
        )

    def rows(self) -> list[dict]:
        """Per type: its in-app field and its email and push fields (None where the type has no such channel)."""
        return [
            {
                "type": value,
                "in_app": self[value],
                "cells": [self[f"{value}__{channel}"] if channel in self.channels[value] else None for channel in Channel.values],
            }
            for value in NotificationType.values
        ]

    def muted(self) -> dict[str, bool]:
        return {
            name: not self.cleaned_data[name]
            for name in NotificationType.values
            if name not in selectors.UNMUTABLE_TYPES
        }

    def channel_choices(self) -> dict[str, dict[str, bool]]:
        return {
            value: {channel: self.cleaned_data[f"{value}__{channel}"] for channel in channels}
            for value, channels in self.channels.items()
            if channels
        }


class TimeInput(forms.TimeInput):
    input_type = "time"  # the browser's time picker; it posts HH:MM, as the API takes it


class QuietWindowWidget(forms.MultiWidget):
    def __init__(self, *, label: str):
        super().__init__(widgets=[TimeInput(attrs={"aria-label": f"{label}: quiet from"}), TimeInput(attrs={"aria-label": f"{label}: quiet until"})])

    def decompress(self, value):
        return [value["start"], value["end"]] if value else [None, None]


class QuietWindowField(forms.MultiValueField):
    """One weekday's window: a start and an end input. Both empty: no quiet hours that day."""

    def __init__(self, *, label: str, **kwargs):
        inputs = (forms.CharField(required=False, strip=False), forms.CharField(required=False, strip=False))
        widget = QuietWindowWidget(label=label)
        super().__init__(fields=inputs, widget=widget, label=label, required=False, require_all_fields=False, **kwargs)

    def compress(self, data_list):
        start, end = data_list or ("", "")
        return {"start": start, "end": end} if start or end else None


class QuietHoursForm(forms.Form):
    """The page's door to quiet hours: a zone and a window per weekday, judged by quiet_hours_parse (as the API's are)."""

    # Not a ChoiceField: the zone is checked once, by quiet_hours_parse; the list only helps to pick.
    time_zone = forms.CharField(label="Your time zone", required=False, widget=forms.Select())

    def __init__(self, *args, schedule: quiet_hours.QuietSchedule | None = None, **kwargs):
        if schedule is not None:
            kwargs["initial"] = {"time_zone": schedule.time_zone} | schedule.windows_as_text()
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].widget.choices = [(name, name.replace("_", " ")) for name in sorted(quiet_hours.time_zone_names())]
        for weekday, label in Weekday.choices:
            self.fields[weekday] = QuietWindowField(label=label)
        self.schedule: quiet_hours.QuietSchedule | None = None

    def days(self) -> list:
        return [self[weekday] for weekday in quiet_hours.WEEKDAYS]

    def clean(self):
        cleaned_data = super().clean()
        try:
            self.schedule = quiet_hours.quiet_hours_parse(
                time_zone=cleaned_data.get("time_zone") or "",
                windows={weekday: cleaned_data.get(weekday) for weekday in quiet_hours.WEEKDAYS},
            )
        except ValidationError as exc:
            self.add_error(None, exc)  # keyed time_zone or a weekday: the form's own fields
        return cleaned_data


def _marked_read(count: int) -> str:
    return f"Marked {count} notification{'s' if count != 1 else ''} as read."


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


@login_required
@require_GET
def notification_list(request):
    form = NotificationFilterForm(request.GET or None)
    state, notification_type, layout, group_key = "", "", "", ""
    if form.is_valid():
        state, notification_type = form.cleaned_data["state"], form.cleaned_data["type"]
        layout, group_key = form.cleaned_data["layout"], form.cleaned_data["group"]
    unread = {"unread": True, "read": False}.get(state)
    filters = {"user": request.user, "unread": unread, "notification_type": notification_type or None, "group_key": group_key or None}
    # Groups by default (paged by number: an entry is not one row); one group's members, or the
    # "one by one" layout, flat and keyset-paged: ?before=<id> (older), ?after=<id> (newer).
    grouped = not layout and not group_key
    if grouped:
        page = Paginator(selectors.notification_groups_for_user(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    else:
        page = selectors.notifications_keyset_page(
            selectors.notifications_for_user(**filters), size=PAGE_SIZE,
            before=_cursor(request.GET.get("before")), after=_cursor(request.GET.get("after")),
        )
    query = {k: v for k, v in (("state", state), ("type", notification_type), ("layout", layout), ("group", group_key)) if v}
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(
        request,
        "notifications/list.html",
        {"form": form, "page": page, "grouped": grouped, "group_key": group_key, "filter_query": urlencode(query), "filtered": bool(query)},
        status=status,
    )


def _cursor(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) < 19 else None


@login_required
@require_POST
def notification_read(request, notification_id: int):
    try:
        services.notification_mark_read(user=request.user, notification_id=notification_id)
    except NotFound:
        raise Http404 from None
    return redirect(_safe_next(request, reverse("notifications:list")))


@login_required
@require_POST
def notification_open(request, notification_id: int):
    """Mark read and go where the notification points (a local URL only)."""
    try:
        notification = services.notification_mark_read(user=request.user, notification_id=notification_id)
    except NotFound:
        raise Http404 from None
    target = notification.action_url
    if not (target.startswith("/") and not target.startswith("//") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})):
        target = reverse("notifications:list")
    return redirect(target)


@login_required
@require_POST
def notification_group_read(request, group_key: str):
    try:
        changed = services.notifications_mark_group_read(user=request.user, group_key=group_key)
    except NotFound:
        raise Http404 from None
    if changed:
        messages.success(request, _marked_read(len(changed)))
    return redirect(_safe_next(request, reverse("notifications:list")))


@login_required
@require_POST
def notification_read_all(request):
    changed = services.notifications_mark_all_read(user=request.user)
    if changed:
        messages.success(request, _marked_read(changed))
    else:
        messages.info(request, "Nothing was unread.")
    return redirect(_safe_next(request, reverse("notifications:list")))


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    form = PreferencesForm(
        request.POST if request.method == "POST" else None,
        muted=selectors.notification_preferences_for(user=request.user),
        channels=selectors.notification_channel_preferences_for(user=request.user),
        job_offer_pushes_per_hour=selectors.job_offer_push_cap_for(user=request.user),
        gets_job_offers=user_is_cleaner(user=request.user),
    )
    if request.method == "POST":
        if form.is_valid():
            try:
                services.notification_preferences_save(
                    user=request.user, muted=form.muted(), channels=form.channel_choices(),
                    job_offer_pushes_per_hour=form.cleaned_data.get("job_offer_pushes_per_hour", services.UNCHANGED),
                )
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, "Your notification settings are saved.")
                return redirect("notifications:preferences")
        return _preferences_page(request, form=form, status=400)
    return _preferences_page(request, form=form)


@login_required
@require_POST
def quiet_hours_update(request):
    quiet_form = QuietHoursForm(request.POST)
    if quiet_form.is_valid():
        quiet_hours.quiet_hours_save(user=request.user, schedule=quiet_form.schedule)
        messages.success(request, "Your quiet hours are saved.")
        return redirect(reverse("notifications:preferences") + "#quiet-hours")
    return _preferences_page(request, quiet_form=quiet_form, status=400)


def _preferences_page(request, *, form: PreferencesForm | None = None, quiet_form: QuietHoursForm | None = None, status: int = 200):
    """The settings page: the types grid and the quiet hours, each its own form (a bound one shows its errors)."""
    user_id = request.user.pk
    if form is None:
        form = PreferencesForm(
            muted=selectors.notification_preferences_for(user=request.user),
            channels=selectors.notification_channel_preferences_for(user=request.user),
        )
    schedule = quiet_hours.quiet_hours_for(user_id=user_id)
    context = {
        "form": form,
        "quiet_form": quiet_form or QuietHoursForm(schedule=schedule),
        "quiet_zone": schedule.time_zone,
        "quiet_until": quiet_hours.quiet_hours_until_now(user_id=user_id),
    }
    return render(request, "notifications/preferences.html", context, status=status)


@login_required
@require_GET
def notifications_export(request):
    """The download button's target: the same JSON file as GET /api/notifications/export/."""
    response = StreamingHttpResponse(
        personal_data.notifications_export_stream(user_id=request.user.pk), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{personal_data.notifications_export_filename(user=request.user)}"'
    return response


class AccountDeleteForm(forms.Form):
    password = forms.CharField(label="Your password", widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request):
    """Confirm with the password; then the account is deactivated, signed out, and its data removed."""
    form = AccountDeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            personal_data.account_delete_request(user=request.user, password=form.cleaned_data["password"])
        except DomainError as exc:
            form.add_error("password", exc.message)
        else:
            logout(request)
            messages.success(request, "Your account is deleted. Its notifications and data are being removed.")
            return redirect("jobs:login")
    status = 400 if form.is_bound else 200
    return render(request, "notifications/account_delete.html", {"form": form}, status=status)


@csrf_exempt  # RFC 8058: mail clients POST without a session or a CSRF token; the signed token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """GET: a page with one button (link scanners must not unsubscribe anyone); POST: that type's channel off."""
    try:
        user_id, notification_type, channel = unsubscribe_token_read(token)
    except DomainError as exc:
        return render(request, "notifications/unsubscribe.html", {"error": exc.message}, status=400)
    context = {"type_label": NotificationType(notification_type).label, "channel_label": Channel(channel).label}
    if request.method == "POST":
        try:
            done = services.notification_channel_unsubscribe(user_id=user_id, notification_type=notification_type, channel=channel)
        except DomainError:
            done = False
        if not done:
            return render(request, "notifications/unsubscribe.html", {"error": "This unsubscribe link is not valid."}, status=400)
        return render(request, "notifications/unsubscribe.html", context | {"done": True})
    return render(request, "notifications/unsubscribe.html", context)
