"""Quiet hours: a user's time zone, and per weekday a window in which their email and push wait.

One module for the one idea: what a schedule may be (quiet_hours_parse, the one check, called by
the preferences page's form and the API's serializer alike), its writer (quiet_hours_save) and
reader (quiet_hours_for), and the rule the channel engine asks (quiet_hours_end: who is quiet at
an instant and until when; quiet_hours_bypassed: what goes through anyway).

A local time becomes an instant by one convention (_first_instant_at): the first moment the
user's clock shows that time or a later one. On the night the clocks spring forward a time in
the skipped hour is the moment of the jump (a window wholly inside it does not happen that night);
on the night they fall back, a time that happens twice is its first occurrence. A window
therefore lasts what the clock says it lasts, give or take the hour gained or lost: Saturday
22:00-07:00 is 8 hours of real time in late March and 10 in late October.
"""

import functools
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from jobs.models import Weekday

from .catalog import NotificationType, Priority
from .models import QuietHours, QuietHoursWindow

WEEKDAYS = tuple(Weekday.values)  # index = date.weekday()

# Types that go through quiet hours whatever their priority: being paid is news people want at once.
# Everything else waits unless its priority is urgent (system_alert's, unless staff change its template).
BYPASS_TYPES = frozenset({NotificationType.PAYMENT_RECEIVED})

_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")

# In the zone database but not places a person lives in: the machine's own zone, and a placeholder.
_NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})


@functools.cache
def time_zone_names() -> frozenset[str]:
    """Every IANA zone name a user may choose. Listing the zone database costs about 0.1 s: once per process."""
    return frozenset(zoneinfo.available_timezones()) - _NOT_PLACES


def default_time_zone() -> str:
    """A user's zone until they choose one: the marketplace's."""
    return settings.TIME_ZONE


# --- the schedule, as the doors see it -------------------------------------------------


class Window(NamedTuple):  # a tuple: the rule makes one per row it reads
    start: time
    end: time


@dataclass(frozen=True)
class QuietSchedule:
    """A valid schedule: a zone we know, and per weekday (mon ... sun) at most one window with two different times."""

    time_zone: str
    windows: dict[str, Window]

    def windows_as_text(self) -> dict[str, dict[str, str] | None]:
        """Every weekday, as the API and the page show it: {"start": "22:00", "end": "07:00"} or None."""
        return {
            weekday: {"start": f"{window.start:%H:%M}", "end": f"{window.end:%H:%M}"} if (window := self.windows.get(weekday)) else None
            for weekday in WEEKDAYS
        }


def quiet_hours_for(*, user_id: int) -> QuietSchedule:
    """The user's schedule (the marketplace's zone and no windows if they never set one), in one query."""
    rows = QuietHours.objects.filter(pk=user_id).values_list("time_zone", "windows__weekday", "windows__start", "windows__end")
    time_zone, windows = default_time_zone(), {}
    for time_zone, weekday, start, end in rows:
        if weekday is not None:
            windows[weekday] = Window(start, end)
    return QuietSchedule(time_zone, windows)


def quiet_hours_until_now(*, user_id: int) -> datetime | None:
    """When the user's current quiet hours end (UTC), or None if they are not in quiet hours now."""
    return quiet_hours_end(user_ids=[user_id], at=timezone.now()).get(user_id)


def quiet_hours_parse(*, time_zone, windows) -> QuietSchedule:
    """The one check of a schedule, for the page's form and the API's serializer alike.

    time_zone: an IANA name. windows: {weekday: {"start": "22:00", "end": "07:00"} or None}, weekday one
    of mon ... sun; a day left out or None has no quiet hours. Raises a ValidationError keyed
    "time_zone", "windows" (the shape) or the weekday, with every problem at once.
    """
    errors: dict[str, list[str]] = {}
    if not isinstance(time_zone, str) or not time_zone.strip():
        errors["time_zone"] = ["Choose a time zone, e.g. Europe/Amsterdam."]
    elif time_zone not in time_zone_names():
        errors["time_zone"] = [f"{time_zone[:64]!r} is not a time zone we know; use an IANA name such as Europe/Amsterdam."]
    parsed: dict[str, Window] = {}
    if not isinstance(windows, dict):
        errors["windows"] = ["Expected an object of weekdays: " + ", ".join(WEEKDAYS) + "."]
    else:
        unknown = sorted(str(day)[:20] for day in windows if day not in WEEKDAYS)
        if unknown:
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            errors["windows"] = [f"Unknown weekday: {', '.join(unknown[:5])}{more}. Use " + ", ".join(WEEKDAYS) + "."]
        for weekday in WEEKDAYS:
            try:
                window = _window_parse(windows.get(weekday))
            except ValueError as exc:
                errors[weekday] = [f"{Weekday(weekday).label}: {exc}"]
            else:
                if window is not None:
                    parsed[weekday] = window
    if errors:
        raise ValidationError(errors)
    return QuietSchedule(time_zone, parsed)


@transaction.atomic
def quiet_hours_save(*, user, schedule: QuietSchedule) -> None:
    """Replace the user's zone and windows with a parsed schedule (quiet_hours_parse)."""
    quiet_hours, _ = QuietHours.objects.update_or_create(user=user, defaults={"time_zone": schedule.time_zone})
    quiet_hours.windows.all().delete()
    QuietHoursWindow.objects.bulk_create(
        QuietHoursWindow(quiet_hours=quiet_hours, weekday=weekday, start=window.start, end=window.end)
        for weekday, window in schedule.windows.items()
    )


def _window_parse(raw) -> Window | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"start", "end"}:
        raise ValueError('expected {"start": "22:00", "end": "07:00"}, or null for no quiet hours.')
    if raw["start"] in ("", None) or raw["end"] in ("", None):
        raise ValueError("give both a start and an end, or neither for no quiet hours that day.")
    start, end = _time_parse(raw["start"]), _time_parse(raw["end"])
    if start == end:
        raise ValueError(f"the start and the end are both {start:%H:%M}; a window needs two different times.")
    return Window(start, end)


def _time_parse(raw) -> time:
    match = _TIME.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        shown = repr(raw[:20]) if isinstance(raw, str) else "that"
        raise ValueError(f"{shown} is not a time; use hours and minutes, e.g. 22:00 or 07:00.")
    return time(int(match[1]), int(match[2]))


# --- the rule ---------------------------------------------------------------------------


def quiet_hours_end(*, user_ids: Iterable[int], at: datetime) -> dict[int, datetime]:
    """For the users inside a quiet window at `at`, when (aware, UTC) their quiet ends; one query.

    Windows that touch or overlap are one stretch of quiet, which ends when the last of them does.
    Users without quiet hours, or outside their windows, are absent.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("quiet_hours_end needs an aware datetime.")
    user_ids = list(user_ids)
    if not user_ids:
        return {}
    schedules: dict[int, tuple[str, dict[str, Window]]] = {}
    rows = QuietHoursWindow.objects.filter(quiet_hours_id__in=user_ids).values_list(
        "quiet_hours_id", "quiet_hours__time_zone", "weekday", "start", "end"
    )
    for user_id, time_zone, weekday, start, end in rows:
        schedules.setdefault(user_id, (time_zone, {}))[1][weekday] = Window(start, end)
    ends = {}
    for user_id, (time_zone, windows) in schedules.items():
        until = _quiet_until(windows, zoneinfo.ZoneInfo(time_zone), at)
        if until is not None:
            ends[user_id] = until
    return ends


def quiet_hours_bypassed(notification) -> bool:
    """True if the notification's email and push go out in quiet hours too: urgent priority, or a BYPASS_TYPES type."""
    return notification.priority == Priority.URGENT or notification.notification_type in BYPASS_TYPES


def _quiet_until(windows: dict[str, Window], zone: zoneinfo.ZoneInfo, at: datetime) -> datetime | None:
    """Day by day from the day before `at` (local): that day's or today's window may hold `at`; each
    later day's window extends the stretch if it starts by the time the stretch ends, and the first
    that does not ends it. (One window a weekday, each starting on its own day: days in order are
    windows in order of start.)
    """
    today = at.astimezone(zone).date()
    until = None
    # A chain ends within a week: to touch, each window starts earlier in its day than the one before
    # it (which crossed midnight), and there are seven weekdays.
    for offset in range(-1, 8):
        day = today + timedelta(days=offset)
        window = windows.get(WEEKDAYS[day.weekday()])
        span = _span(day, window, zone) if window is not None else None
        if span is not None and span[0] <= (until or at) < span[1]:
            until = span[1]
        elif offset >= 0 and (until is None or span is None or span[0] > until):
            break
    return until


def _span(day: date, window: Window, zone: zoneinfo.ZoneInfo) -> tuple[datetime, datetime] | None:
    """The window starting on `day` as UTC instants; None if it does not happen (inside a skipped hour)."""
    end_day = day + timedelta(days=1) if window.end < window.start else day
    begins = _first_instant_at(datetime.combine(day, window.start), zone)
    ends = _first_instant_at(datetime.combine(end_day, window.end), zone)
    return (begins, ends) if begins < ends else None


def _first_instant_at(local: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """The first instant (UTC) at which the clock of `zone` shows `local` (naive) or later."""
    instant = local.replace(tzinfo=zone).astimezone(UTC)  # fold=0: a repeated time's first occurrence
    if instant.astimezone(zone).replace(tzinfo=None) == local:
        return instant
    # The clocks skipped `local`, so the answer is the jump. Read with the offset after it (fold=1) it
    # is an instant before the jump, read with the one before it (fold=0) one after: bisect between them.
    before = int(local.replace(tzinfo=zone, fold=1).timestamp())
    after = int(instant.timestamp())
    offset_after = datetime.fromtimestamp(after, zone).utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)
