"""The quiet-hours rule: who is inside a quiet window at an instant, and until when (in UTC).

Dates are real calendar days: 2027-01-11 is a Monday; Europe/Amsterdam moves its clocks on
Sunday 2027-03-28 (02:00 CET -> 03:00 CEST, at 01:00 UTC) and Sunday 2027-10-31 (03:00 CEST ->
02:00 CET, at 01:00 UTC); America/New_York on Sunday 2027-03-14 (02:00 EST -> 03:00 EDT, at 07:00 UTC).
"""

from datetime import datetime, timezone

import pytest

from notifications.catalog import NotificationType, Priority
from notifications.quiet_hours import quiet_hours_bypassed, quiet_hours_end, quiet_hours_parse, quiet_hours_save
from tests.factories import UserFactory
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db

AMSTERDAM = "Europe/Amsterdam"
NEW_YORK = "America/New_York"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def window(start: str, end: str) -> dict:
    return {"start": start, "end": end}


def schedule(user, zone: str, windows: dict) -> None:
    quiet_hours_save(user=user, schedule=quiet_hours_parse(time_zone=zone, windows=windows))


def quiet_until(zone: str, windows: dict, at: str) -> datetime | None:
    user = UserFactory()
    schedule(user, zone, windows)
    return quiet_hours_end(user_ids=[user.pk], at=utc(at)).get(user.pk)


MONDAY_NIGHT = {"mon": window("22:00", "07:00")}


@pytest.mark.parametrize(
    "zone, windows, at, expected",
    [
        # Across midnight: Monday 22:00 (21:00 UTC in winter) to Tuesday 07:00 (06:00 UTC).
        pytest.param(AMSTERDAM, MONDAY_NIGHT, "2027-01-11 20:59", None, id="a minute before it starts"),
        pytest.param(AMSTERDAM, MONDAY_NIGHT, "2027-01-11 21:00", "2027-01-12 06:00", id="as it starts"),
        pytest.param(AMSTERDAM, MONDAY_NIGHT, "2027-01-11 23:30", "2027-01-12 06:00", id="before midnight"),
        pytest.param(AMSTERDAM, MONDAY_NIGHT, "2027-01-12 05:59", "2027-01-12 06:00", id="after midnight, on the next weekday"),
        pytest.param(AMSTERDAM, MONDAY_NIGHT, "2027-01-12 06:00", None, id="the end is not quiet"),
        pytest.param(AMSTERDAM, MONDAY_NIGHT, "2027-01-12 21:30", None, id="tuesday night has no window"),
        pytest.param(AMSTERDAM, MONDAY_NIGHT, "2027-01-18 21:30", "2027-01-19 06:00", id="the next monday"),
        # Within one day.
        pytest.param(AMSTERDAM, {"wed": window("12:00", "13:30")}, "2027-01-13 11:15", "2027-01-13 12:30", id="a lunch window"),
        pytest.param(AMSTERDAM, {"wed": window("12:00", "13:30")}, "2027-01-14 11:15", None, id="not on thursday"),
        # Sunday night ends on Monday morning: the week wraps.
        pytest.param(AMSTERDAM, {"sun": window("22:00", "07:00")}, "2027-01-17 22:30", "2027-01-18 06:00", id="sunday night"),
        pytest.param(AMSTERDAM, {"sun": window("22:00", "07:00")}, "2027-01-18 02:00", "2027-01-18 06:00", id="monday early, from sunday"),
        pytest.param(AMSTERDAM, {"mon": window("00:00", "07:00")}, "2027-01-17 23:30", "2027-01-18 06:00", id="monday from midnight"),
        # Spring forward: Saturday 22:00 CET (21:00 UTC) to Sunday 07:00 CEST (05:00 UTC): 8 hours.
        pytest.param(AMSTERDAM, {"sat": window("22:00", "07:00")}, "2027-03-27 20:59", None, id="march: before"),
        pytest.param(AMSTERDAM, {"sat": window("22:00", "07:00")}, "2027-03-27 21:00", "2027-03-28 05:00", id="march: 8 hours"),
        pytest.param(AMSTERDAM, {"sat": window("22:00", "07:00")}, "2027-03-28 04:59", "2027-03-28 05:00", id="march: the last minute"),
        pytest.param(AMSTERDAM, {"sat": window("22:00", "07:00")}, "2027-03-28 05:00", None, id="march: 07:00 summer time"),
        # Fall back: Saturday 22:00 CEST (20:00 UTC) to Sunday 07:00 CET (06:00 UTC): 10 hours.
        pytest.param(AMSTERDAM, {"sat": window("22:00", "07:00")}, "2027-10-30 19:59", None, id="october: before"),
        pytest.param(AMSTERDAM, {"sat": window("22:00", "07:00")}, "2027-10-30 20:00", "2027-10-31 06:00", id="october: 10 hours"),
        pytest.param(AMSTERDAM, {"sat": window("22:00", "07:00")}, "2027-10-31 05:59", "2027-10-31 06:00", id="october: the last minute"),
        pytest.param(AMSTERDAM, {"sat": window("22:00", "07:00")}, "2027-10-31 06:00", None, id="october: 07:00 winter time"),
        # A window over the skipped hour: 01:00 CET (00:00 UTC) to 04:00 CEST (02:00 UTC), 2 hours of real time.
        pytest.param(AMSTERDAM, {"sun": window("01:00", "04:00")}, "2027-03-27 23:59", None, id="march 01-04: before"),
        pytest.param(AMSTERDAM, {"sun": window("01:00", "04:00")}, "2027-03-28 00:00", "2027-03-28 02:00", id="march 01-04: 2 hours"),
        pytest.param(AMSTERDAM, {"sun": window("01:00", "04:00")}, "2027-03-28 01:30", "2027-03-28 02:00", id="march 01-04: after the jump"),
        # 02:30 does not exist that night: the window starts when the clock jumps past it (03:00 CEST, 01:00 UTC).
        pytest.param(AMSTERDAM, {"sun": window("02:30", "04:00")}, "2027-03-28 00:59", None, id="march 02:30: before the jump"),
        pytest.param(AMSTERDAM, {"sun": window("02:30", "04:00")}, "2027-03-28 01:00", "2027-03-28 02:00", id="march 02:30: from the jump"),
        # ... and a window ending at 02:30 ends when the clock jumps past it.
        pytest.param(AMSTERDAM, {"sun": window("01:00", "02:30")}, "2027-03-28 00:45", "2027-03-28 01:00", id="march: ends at the jump"),
        # A window wholly inside the skipped hour does not happen that night.
        pytest.param(AMSTERDAM, {"sun": window("02:10", "02:50")}, "2027-03-28 01:20", None, id="march: inside the skipped hour"),
        pytest.param(AMSTERDAM, {"sun": window("02:10", "02:50")}, "2027-04-04 00:30", "2027-04-04 00:50", id="the week after: 40 minutes"),
        # October: 01:00 CEST (23:00 UTC) to 04:00 CET (03:00 UTC), 4 hours of real time.
        pytest.param(AMSTERDAM, {"sun": window("01:00", "04:00")}, "2027-10-30 23:00", "2027-10-31 03:00", id="october 01-04: 4 hours"),
        pytest.param(AMSTERDAM, {"sun": window("01:00", "04:00")}, "2027-10-31 02:59", "2027-10-31 03:00", id="october 01-04: the last minute"),
        # 02:30 happens twice: a window starts and ends at its first time (00:30 UTC, summer time).
        pytest.param(AMSTERDAM, {"sun": window("02:30", "04:00")}, "2027-10-31 00:29", None, id="october 02:30: before the first"),
        pytest.param(AMSTERDAM, {"sun": window("02:30", "04:00")}, "2027-10-31 00:30", "2027-10-31 03:00", id="october 02:30: from the first"),
        pytest.param(AMSTERDAM, {"sun": window("01:00", "02:30")}, "2027-10-31 00:15", "2027-10-31 00:30", id="october: ends at the first 02:30"),
        pytest.param(AMSTERDAM, {"sun": window("01:00", "02:30")}, "2027-10-31 01:15", None, id="october: not again at the second"),
        # Another zone: Monday 22:00 EST is 03:00 UTC on Tuesday; Amsterdam is asleep-free then.
        pytest.param(NEW_YORK, MONDAY_NIGHT, "2027-01-12 02:59", None, id="new york: before"),
        pytest.param(NEW_YORK, MONDAY_NIGHT, "2027-01-12 04:00", "2027-01-12 12:00", id="new york: monday night"),
        pytest.param(NEW_YORK, MONDAY_NIGHT, "2027-01-11 22:00", None, id="new york: amsterdam's night is its afternoon"),
        # New York springs forward two weeks before Amsterdam: Saturday 22:00 EST to Sunday 07:00 EDT, 8 hours.
        pytest.param(NEW_YORK, {"sat": window("22:00", "07:00")}, "2027-03-14 03:00", "2027-03-14 11:00", id="new york: march, 8 hours"),
        # Windows that touch or overlap are one stretch of quiet: it ends when the last of them does.
        pytest.param(AMSTERDAM, MONDAY_NIGHT | {"tue": window("07:00", "09:00")}, "2027-01-11 23:00", "2027-01-12 08:00", id="touching windows"),
        pytest.param(AMSTERDAM, MONDAY_NIGHT | {"tue": window("06:00", "08:00")}, "2027-01-12 05:30", "2027-01-12 07:00", id="overlapping windows"),
        pytest.param(AMSTERDAM, MONDAY_NIGHT | {"tue": window("07:01", "09:00")}, "2027-01-11 23:00", "2027-01-12 06:00", id="a minute apart: two"),
        pytest.param(
            AMSTERDAM, {"mon": window("20:00", "19:00"), "tue": window("18:00", "17:00"), "wed": window("16:00", "17:00")},
            "2027-01-11 20:00", "2027-01-13 16:00", id="a chain over three days",
        ),
    ],
)
def test_quiet_hours_end(zone, windows, at, expected):
    assert quiet_until(zone, windows, at) == (utc(expected) if expected else None)


def test_the_end_is_an_aware_utc_datetime():
    end = quiet_until(AMSTERDAM, MONDAY_NIGHT, "2027-01-11 23:00")
    assert end.tzinfo is timezone.utc


def test_a_naive_instant_is_refused():
    with pytest.raises(ValueError, match="aware"):
        quiet_hours_end(user_ids=[1], at=datetime(2027, 1, 11, 23))


def test_every_users_own_zone_in_one_query(django_assert_num_queries):
    amsterdam, new_york, tokyo, nobody, asleep_later = UserFactory.create_batch(5)
    schedule(amsterdam, AMSTERDAM, MONDAY_NIGHT)
    schedule(new_york, NEW_YORK, {"tue": window("12:00", "18:00")})
    schedule(tokyo, "Asia/Tokyo", {"tue": window("05:00", "09:00")})
    schedule(asleep_later, AMSTERDAM, {"tue": window("22:00", "07:00")})
    extra = UserFactory.create_batch(40)
    for user in extra:
        schedule(user, AMSTERDAM, MONDAY_NIGHT | {"sun": window("23:00", "06:00")})
    everyone = [amsterdam.pk, new_york.pk, tokyo.pk, nobody.pk, asleep_later.pk] + [user.pk for user in extra]

    # Tuesday 2027-01-12 at 05:30 UTC: 06:30 in Amsterdam, 00:30 in New York, 14:30 in Tokyo.
    with django_assert_num_queries(1):
        ends = quiet_hours_end(user_ids=everyone, at=utc("2027-01-12 05:30"))

    assert ends == {amsterdam.pk: utc("2027-01-12 06:00")} | {user.pk: utc("2027-01-12 06:00") for user in extra}


def test_no_users_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert quiet_hours_end(user_ids=[], at=utc("2027-01-12 05:30")) == {}


@pytest.mark.parametrize(
    "notification_type, priority, bypassed",
    [
        (NotificationType.PAYMENT_RECEIVED, Priority.HIGH, True),
        (NotificationType.PAYMENT_RECEIVED, Priority.LOW, True),
        (NotificationType.SYSTEM_ALERT, Priority.URGENT, True),
        # An announcement staff sent with a non-urgent template waits like any other.
        (NotificationType.SYSTEM_ALERT, Priority.HIGH, False),
        (NotificationType.BID_RECEIVED, Priority.URGENT, True),
        (NotificationType.BID_RECEIVED, Priority.MEDIUM, False),
        (NotificationType.BID_ACCEPTED, Priority.HIGH, False),
        (NotificationType.JOB_CANCELLED, Priority.HIGH, False),
        (NotificationType.JOB_CREATED, Priority.MEDIUM, False),
        (NotificationType.MESSAGE_RECEIVED, Priority.MEDIUM, False),
        (NotificationType.REMINDER, Priority.MEDIUM, False),
    ],
)
def test_what_goes_through_quiet_hours(notification_type, priority, bypassed):
    notification = NotificationFactory(notification_type=notification_type, priority=priority)
    assert quiet_hours_bypassed(notification) is bypassed
