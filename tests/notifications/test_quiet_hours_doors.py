"""Quiet hours through both doors, the API and the preferences page: the same checks, the same
messages, and nothing changed by a bad request."""

import re
from datetime import time

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from notifications.models import QuietHours, QuietHoursWindow
from notifications.quiet_hours import quiet_hours_parse, quiet_hours_save
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

API_URL = reverse("notifications-api:quiet-hours")
PAGE_URL = reverse("notifications:preferences")
FORM_URL = reverse("notifications:quiet-hours")
NO_WINDOWS = dict.fromkeys(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def api(api_as, user):
    return api_as(user)


@pytest.fixture
def page(user):
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def saved(user):
    """The schedule every bad request must leave exactly as it was."""
    quiet_hours_save(
        user=user,
        schedule=quiet_hours_parse(time_zone="Europe/Lisbon", windows={"fri": {"start": "23:00", "end": "08:30"}}),
    )
    return [("Europe/Lisbon", "fri", time(23), time(8, 30))]


def stored(user) -> list[tuple]:
    return list(
        QuietHoursWindow.objects.filter(quiet_hours__user=user).values_list("quiet_hours__time_zone", "weekday", "start", "end")
    )


# Each bad schedule, the field its error is on, and words of the message (the same at both doors).
BAD = [
    pytest.param("Mars/Olympus_Mons", {}, "time_zone", "'Mars/Olympus_Mons' is not a time zone we know", id="unknown zone"),
    pytest.param("europe/amsterdam", {}, "time_zone", "is not a time zone we know", id="zone in the wrong case"),
    pytest.param("localtime", {}, "time_zone", "is not a time zone we know", id="the machine's own zone"),
    pytest.param("", {}, "time_zone", "Choose a time zone", id="no zone"),
    pytest.param("Europe/Amsterdam", {"mon": {"start": "22:00", "end": "22:00"}}, "mon",
                 "Monday: the start and the end are both 22:00", id="start equals end"),
    pytest.param("Europe/Amsterdam", {"tue": {"start": "7:00", "end": "07:00"}}, "tue",
                 "Tuesday: the start and the end are both 07:00", id="the same time written twice"),
    pytest.param("Europe/Amsterdam", {"wed": {"start": "25:00", "end": "07:00"}}, "wed",
                 "Wednesday: '25:00' is not a time", id="hour 25"),
    pytest.param("Europe/Amsterdam", {"thu": {"start": "22:00", "end": "07:60"}}, "thu",
                 "Thursday: '07:60' is not a time", id="minute 60"),
    pytest.param("Europe/Amsterdam", {"fri": {"start": "10pm", "end": "07:00"}}, "fri",
                 "Friday: '10pm' is not a time; use hours and minutes", id="not hours and minutes"),
    pytest.param("Europe/Amsterdam", {"sat": {"start": "22:00:00", "end": "07:00"}}, "sat",
                 "Saturday: '22:00:00' is not a time", id="seconds"),
    pytest.param("Europe/Amsterdam", {"sun": {"start": "22:00", "end": ""}}, "sun",
                 "Sunday: give both a start and an end", id="no end"),
]

# Only the API can send these shapes; the form always sends a zone and two times per day.
BAD_SHAPES = [
    pytest.param({"time_zone": 1, "windows": {}}, "time_zone", "Choose a time zone", id="zone not a string"),
    pytest.param({"time_zone": "UTC", "windows": []}, "windows", "Expected an object of weekdays", id="windows a list"),
    pytest.param({"time_zone": "UTC", "windows": {"monday": None}}, "windows", "Unknown weekday: monday", id="weekday spelt out"),
    pytest.param({"time_zone": "UTC", "windows": {f"day{n}": None for n in range(5000)}}, "windows",
                 "Unknown weekday: day0, day1, day10, day100, day1000 and 4995 more.", id="5000 unknown weekdays"),
    pytest.param({"time_zone": "UTC", "windows": {"mon": {"from": "22:00", "to": "07:00"}}}, "mon",
                 'Monday: expected {"start": "22:00", "end": "07:00"}', id="other keys"),
    pytest.param({"time_zone": "UTC", "windows": {"mon": {"start": 2200, "end": 700}}}, "mon",
                 "Monday: that is not a time", id="numbers"),
    pytest.param({"time_zone": "UTC", "windows": {"mon": "22:00-07:00"}}, "mon", "Monday: expected", id="a string"),
    pytest.param({"windows": {}}, "time_zone", "This field is required", id="no zone sent"),
    pytest.param({"time_zone": "UTC"}, "windows", "This field is required", id="no windows sent"),
]


# --- the API ---------------------------------------------------------------------------


def test_api_default_is_the_marketplaces_zone_and_no_windows(api, settings):
    settings.TIME_ZONE = "Europe/Amsterdam"
    response = api.get(API_URL)
    assert response.status_code == 200
    assert response.json() == {"time_zone": "Europe/Amsterdam", "windows": NO_WINDOWS, "quiet_until": None}


def test_api_put_replaces_the_schedule(api, user, saved):
    body = {
        "time_zone": "America/New_York",
        "windows": {"mon": {"start": "22:00", "end": "7:00"}, "sun": {"start": "13:00", "end": "14:30"}, "tue": None},
    }
    response = api.put(API_URL, body, format="json")

    assert response.status_code == 200
    assert response.json()["windows"] == NO_WINDOWS | {
        "mon": {"start": "22:00", "end": "07:00"}, "sun": {"start": "13:00", "end": "14:30"}
    }
    assert sorted(stored(user)) == [("America/New_York", "mon", time(22), time(7)), ("America/New_York", "sun", time(13), time(14, 30))]
    assert api.get(API_URL).json()["time_zone"] == "America/New_York"


def test_api_put_without_windows_clears_them_and_keeps_the_zone(api, user, saved):
    response = api.put(API_URL, {"time_zone": "Europe/Lisbon", "windows": {}}, format="json")
    assert response.status_code == 200
    assert response.json()["windows"] == NO_WINDOWS
    assert stored(user) == []
    assert QuietHours.objects.get(user=user).time_zone == "Europe/Lisbon"


@pytest.mark.parametrize("zone, windows, field, message", BAD)
def test_api_refuses_a_bad_schedule_and_changes_nothing(api, user, saved, zone, windows, field, message):
    response = api.put(API_URL, {"time_zone": zone, "windows": windows}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert message in " ".join(response.json()["errors"][field])
    assert stored(user) == saved


@pytest.mark.parametrize("body, field, message", BAD_SHAPES)
def test_api_refuses_a_bad_shape_and_changes_nothing(api, user, saved, body, field, message):
    response = api.put(API_URL, body, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()["errors"][field])
    assert stored(user) == saved


def test_api_names_every_problem_at_once(api, user, saved):
    body = {"time_zone": "Nowhere", "windows": {"mon": {"start": "1:00", "end": "01:00"}, "tue": {"start": "x", "end": "y"}}}
    errors = api.put(API_URL, body, format="json").json()["errors"]
    assert set(errors) == {"time_zone", "mon", "tue"}
    assert stored(user) == saved


def test_api_refuses_form_encoding(api, user, saved):
    response = api.put(API_URL, "time_zone=UTC", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert stored(user) == saved


def test_api_needs_a_login(api_client):
    assert api_client.get(API_URL).status_code == 403
    assert api_client.put(API_URL, {"time_zone": "UTC", "windows": {}}, format="json").status_code == 403


def test_api_says_when_the_quiet_hours_you_are_in_end(api, user):
    api.put(API_URL, {"time_zone": "Europe/Amsterdam", "windows": {"mon": {"start": "22:00", "end": "07:00"}}}, format="json")
    # Monday 2027-01-11, 23:30 in Amsterdam; then Tuesday 08:00.
    with time_machine.travel("2027-01-11 22:30Z", tick=False):
        assert api.get(API_URL).json()["quiet_until"] == "2027-01-12T06:00:00Z"
    with time_machine.travel("2027-01-12 07:00Z", tick=False):
        assert api.get(API_URL).json()["quiet_until"] is None


# --- the page --------------------------------------------------------------------------


def form_body(zone: str, windows: dict) -> dict:
    body = {"time_zone": zone}
    for weekday in NO_WINDOWS:
        window = windows.get(weekday) or {"start": "", "end": ""}
        body[f"{weekday}_0"], body[f"{weekday}_1"] = window["start"], window["end"]
    return body


def test_page_shows_the_form_with_the_marketplaces_zone(page, settings):
    settings.TIME_ZONE = "Europe/Amsterdam"
    html = page.get(PAGE_URL).content.decode()
    assert re.search(r'<option value="Europe/Amsterdam"[^>]*selected', html)
    for weekday in NO_WINDOWS:
        assert f'name="{weekday}_0"' in html and f'name="{weekday}_1"' in html
    assert 'type="time"' in html
    assert "You are in quiet hours" not in html


def test_page_saves_a_schedule(page, user, saved):
    response = page.post(FORM_URL, form_body("Europe/Amsterdam", {"sun": {"start": "22:00", "end": "07:00"}}))
    assert response.status_code == 302
    assert response["Location"] == PAGE_URL + "#quiet-hours"
    assert stored(user) == [("Europe/Amsterdam", "sun", time(22), time(7))]
    html = page.get(PAGE_URL).content.decode()
    assert "Your quiet hours are saved." in html
    assert re.search(r'name="sun_0" value="22:00"', html) and re.search(r'name="sun_1" value="07:00"', html)
    assert not re.search(r'name="fri_0" value=', html)


@pytest.mark.parametrize("zone, windows, field, message", BAD)
def test_page_refuses_a_bad_schedule_and_changes_nothing(page, user, saved, zone, windows, field, message):
    response = page.post(FORM_URL, form_body(zone, windows))
    assert response.status_code == 400
    html = response.content.decode()
    # The API's message, under the field it is about.
    escaped = message.replace("'", "&#x27;").replace('"', "&quot;")
    error_list = re.search(rf'<ul class="field-errors" id="id_{field}_error">(.*?)</ul>', html, re.S)
    assert error_list and escaped in error_list.group(1)
    assert stored(user) == saved


def test_page_keeps_what_was_typed_when_it_refuses(page, user, saved):
    html = page.post(FORM_URL, form_body("Europe/Amsterdam", {"mon": {"start": "22:00", "end": "22:00"}, "wed": {"start": "12:00", "end": "13:00"}})).content.decode()
    assert 'name="wed_0" value="12:00"' in html
    assert 'name="mon_1" value="22:00"' in html


def test_page_says_when_the_quiet_hours_you_are_in_end(page, user):
    page.post(FORM_URL, form_body("America/New_York", {"mon": {"start": "22:00", "end": "07:00"}}))
    # Tuesday 2027-01-12 04:00 UTC is Monday 23:00 in New York: quiet until Tuesday 07:00 there.
    with time_machine.travel("2027-01-12 04:00Z", tick=False):
        page.force_login(user)  # a session from today would have expired by then
        html = page.get(PAGE_URL).content.decode()
    assert re.search(r"You are in quiet hours until\s*<strong>Tuesday 07:00</strong>", html)


def test_page_needs_a_login():
    response = Client().post(FORM_URL, form_body("UTC", {}))
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- the one check ---------------------------------------------------------------------


def test_parse_reads_hours_and_minutes_and_leaves_out_empty_days():
    schedule = quiet_hours_parse(time_zone="Asia/Kolkata", windows={"mon": {"start": "7:05", "end": "23:59"}, "tue": None})
    assert schedule.time_zone == "Asia/Kolkata"
    assert schedule.windows_as_text() == NO_WINDOWS | {"mon": {"start": "07:05", "end": "23:59"}}


def test_parse_raises_one_error_per_field():
    with pytest.raises(ValidationError) as raised:
        quiet_hours_parse(time_zone="Mars", windows={"mon": {"start": "22:00", "end": "22:00"}})
    assert set(raised.value.message_dict) == {"time_zone", "mon"}


# --- the admin: staff look (why did an email wait?), edits go through the doors above ----


def test_admin_lists_each_users_zone_and_windows_read_only(admin_client, user):
    quiet_hours_save(
        user=user,
        schedule=quiet_hours_parse(
            time_zone="Europe/Amsterdam",
            windows={"mon": {"start": "22:00", "end": "07:00"}, "sat": {"start": "23:30", "end": "09:00"}},
        ),
    )
    changelist = admin_client.get(reverse("admin:notifications_quiethours_changelist", query={"q": user.username}))
    html = changelist.content.decode()
    assert changelist.status_code == 200
    assert user.username in html and "Europe/Amsterdam" in html
    assert "Monday 22:00-07:00, Saturday 23:30-09:00" in html

    assert admin_client.get(reverse("admin:notifications_quiethours_add")).status_code == 403
    change_url = reverse("admin:notifications_quiethours_change", args=[user.pk])
    assert "Saturday 23:30-09:00" in admin_client.get(change_url).content.decode()
    assert admin_client.post(change_url, {"time_zone": "Mars/Olympus_Mons"}).status_code == 403
    assert QuietHours.objects.get(user=user).time_zone == "Europe/Amsterdam"
