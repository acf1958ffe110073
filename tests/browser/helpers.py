"""Small steps shared by the browser tests."""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from .conftest import LIVE_MS


def fill_job_form(
    page, *, title: str, service: str = "deep", budget: str = "140", days: int = 3, address: str = "Damrak 1"
) -> None:
    when = (timezone.localtime() + timedelta(days=days)).replace(hour=10, minute=0)
    page.fill("#id_title", title)
    page.select_option("#id_service_type", service)
    page.fill("#id_description", "Two bedrooms, a kitchen and one bathroom. Please bring your own supplies.")
    page.fill("#id_address", address)
    page.fill("#id_city", "Amsterdam")
    page.fill("#id_scheduled_start", when.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_duration_hours", "3.5")
    page.fill("#id_budget", budget)


def post_job(page, **fields) -> int:
    page.goto("/jobs/new/")
    fill_job_form(page, **fields)
    page.click("button:has-text('Post job')")
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    return int(re.search(r"/jobs/(\d+)/$", page.url).group(1))


def mark_no_reload(page) -> None:
    page.evaluate("window.__sameDocument = true")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def badge(page):
    return page.locator("#bell-badge")


def toast(page, text: str):
    return page.locator("#toasts .toast", has_text=text)


def expect_live_toast(page, text: str) -> None:
    expect(toast(page, text).first).to_be_visible(timeout=LIVE_MS)


def bell_ids(page) -> list[int]:
    return page.eval_on_selector_all("#bell-list [data-notification-id]", "nodes => nodes.map(n => Number(n.dataset.notificationId))")
