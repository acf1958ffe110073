"""Quiet hours on the preferences page, in a real browser: the time pickers, a refused window, a saved one."""

from datetime import time

import pytest
from playwright.sync_api import expect

from notifications.models import QuietHoursWindow
from tests.factories import ClientFactory

from .conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def stored(user) -> list[tuple]:
    return list(
        QuietHoursWindow.objects.filter(quiet_hours__user=user).values_list("quiet_hours__time_zone", "weekday", "start", "end")
    )


def test_a_client_sets_quiet_hours_for_weeknights(live_server_url, people):
    client = ClientFactory(first_name="Anna")
    anna = people(live_server_url, client)
    page = anna.page
    page.goto("/notifications/preferences/")
    section = page.locator("#quiet-hours")
    expect(section.get_by_role("heading", name="Quiet hours")).to_be_visible()

    # A window whose start is its end is refused, on its row, and nothing is stored.
    section.get_by_label("Your time zone").select_option("Europe/Amsterdam")
    section.get_by_label("Monday: quiet from").fill("22:00")
    section.get_by_label("Monday: quiet until").fill("22:00")
    section.get_by_role("button", name="Save quiet hours").click()
    monday = page.locator('#quiet-hours tr[data-weekday="mon"]')
    expect(monday.locator(".field-errors")).to_have_text("Monday: the start and the end are both 22:00; a window needs two different times.")
    assert stored(client) == []

    # What was typed is still there: fix Monday's end, add Sunday night, save.
    section = page.locator("#quiet-hours")
    expect(section.get_by_label("Your time zone")).to_have_value("Europe/Amsterdam")
    section.get_by_label("Monday: quiet until").fill("07:00")
    section.get_by_label("Sunday: quiet from").fill("23:00")
    section.get_by_label("Sunday: quiet until").fill("06:30")
    section.get_by_role("button", name="Save quiet hours").click()

    expect(page.locator(".flash-success")).to_have_text("Your quiet hours are saved.")
    assert page.url.endswith("/notifications/preferences/#quiet-hours")
    assert sorted(stored(client)) == [
        ("Europe/Amsterdam", "mon", time(22), time(7)),
        ("Europe/Amsterdam", "sun", time(23), time(6, 30)),
    ]
    section = page.locator("#quiet-hours")
    expect(section.get_by_label("Monday: quiet from")).to_have_value("22:00")
    expect(section.get_by_label("Sunday: quiet until")).to_have_value("06:30")
    expect(section.get_by_label("Tuesday: quiet from")).to_have_value("")
    page.set_viewport_size({"width": 1280, "height": 1200})  # the whole section, its button too
    section.screenshot(path=str(SCREENSHOTS / "preferences-quiet-hours-laptop.png"), animations="disabled")
    assert anna.errors == []
