"""Notification pages: the full list with filters, read state, and mute preferences.

Plain POST forms (no JavaScript needed) that call notifications.services; the
page script does the same through the REST API and the stream.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from project.exceptions import DomainError, NotFound

from . import selectors, services
from .catalog import Channel, NotificationType
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

    state = forms.ChoiceField(choices=STATES, required=False, label="Show")
    type = forms.ChoiceField(choices=[("", "All types")] + list(NotificationType.choices), required=False, label="Type")


class PreferencesForm(forms.Form):
    """A grid: one row per type, a checkbox per channel it has (In-app, Email, Push); checked means "send me these".

    The in-app field is named after the type (as before the grid); a channel's is "<type>__<channel>".
    """

    def __init__(self, *args, muted: dict[str, bool], channels: dict[str, dict[str, bool]], **kwargs):
        super().__init__(*args, **kwargs)
        self.channels = channels
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


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


@login_required
@require_GET
def notification_list(request):
    form = NotificationFilterForm(request.GET or None)
    state, notification_type = "", ""
    if form.is_valid():
        state, notification_type = form.cleaned_data["state"], form.cleaned_data["type"]
    unread = {"unread": True, "read": False}.get(state)
    notifications = selectors.notifications_for_user(user=request.user, unread=unread, notification_type=notification_type or None)
    page = Paginator(notifications, PAGE_SIZE).get_page(request.GET.get("page"))
    query = {k: v for k, v in (("state", state), ("type", notification_type)) if v}
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(
        request,
        "notifications/list.html",
        {"form": form, "page": page, "filter_query": urlencode(query), "filtered": bool(query)},
        status=status,
    )


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
def notification_read_all(request):
    changed = services.notifications_mark_all_read(user=request.user)
    if changed:
        messages.success(request, f"Marked {changed} notification{'s' if changed != 1 else ''} as read.")
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
    )
    if request.method == "POST":
        if form.is_valid():
            try:
                services.notification_preferences_save(user=request.user, muted=form.muted(), channels=form.channel_choices())
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Your notification settings are saved.")
                return redirect("notifications:preferences")
        return render(request, "notifications/preferences.html", {"form": form}, status=400)
    return render(request, "notifications/preferences.html", {"form": form})


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
