"""Hostile text stays text; bad input gets clear field errors; the pages look right at both sizes."""

import pytest
from playwright.sync_api import expect

from jobs.models import CleaningJob
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory, JobBidFactory
from tests.notifications.factories import NotificationFactory

from .conftest import LIVE_MS, screenshot
from .helpers import badge, expect_live_toast, fill_job_form, post_job

pytestmark = [pytest.mark.browser, pytest.mark.integration]

EVIL = "<img src=x onerror=alert(1)>"


def test_a_hostile_job_title_is_plain_text_everywhere(worker, live_server_url, people):
    client = ClientFactory(first_name="Mallory")
    cleaner = CleanerFactory(first_name="Ben")
    anna = people(live_server_url, client)
    ben = people(live_server_url, cleaner)
    ben.goto_live("/board/")

    job_id = post_job(anna.page, title=EVIL, service="standard")
    expect(anna.page.locator("h1.job-title")).to_have_text(EVIL)

    # The notification's text (the title is in its message) goes in as text: toast, dropdown, board.
    expect(badge(ben.page)).to_have_text("1", timeout=LIVE_MS)
    expect_live_toast(ben.page, "New Standard cleaning job in Amsterdam")
    expect(ben.page.locator("#toasts .toast-message").first).to_contain_text(EVIL)
    expect(ben.page.locator("#bell-list .bell-message").first).to_contain_text(EVIL)
    expect(ben.page.locator(f'[data-job-id="{job_id}"] .job-card-title')).to_have_text(EVIL, timeout=LIVE_MS)

    # A hostile bid message reaches the client's page through the live fragment.
    ben.page.goto(f"/jobs/{job_id}/")
    ben.page.fill("#id_amount", "50")
    ben.page.fill("#id_message", "<script>alert(2)</script>" + EVIL)
    ben.page.click("button:has-text('Place bid')")
    expect(anna.page.locator("#bids .bid-message")).to_have_text("<script>alert(2)</script>" + EVIL, timeout=LIVE_MS)

    for page in (anna.page, ben.page):
        page.wait_for_timeout(300)
        assert page.locator("img").count() == 0
        assert page.locator("#main script, #toasts script, #bell-list script").count() == 0
    for path in ("/jobs/mine/", "/notifications/"):
        anna.page.goto(path)
        assert anna.page.locator("img").count() == 0
    assert anna.dialogs == [] and ben.dialogs == []
    assert anna.errors == [] and ben.errors == []


def test_forms_show_field_errors(live_server_url, people):
    client = ClientFactory(first_name="Anna")
    anna = people(live_server_url, client)

    # The job form: nothing filled in.
    anna.page.goto("/jobs/new/")
    screenshot(anna.page, "post-job-form-laptop", full_page=True)
    anna.page.click("button:has-text('Post job')")
    expect(anna.page.locator(".form-alert")).to_contain_text("Please fix the highlighted fields.")
    expect(anna.page.locator("#id_title_error")).to_have_text("This field is required.")
    expect(anna.page.locator("#id_title")).to_have_attribute("aria-invalid", "true")
    expect(anna.page.locator("#id_budget_error")).to_have_text("This field is required.")

    # Out-of-range and nonsense values, one field each.
    fill_job_form(anna.page, title="Deep clean", budget="0")
    anna.page.fill("#id_address", "Nowhere Lane 9")
    anna.page.fill("#id_duration_hours", "0.1")
    anna.page.click("button:has-text('Post job')")
    expect(anna.page.locator("#id_address_error")).to_contain_text("We could not find that address in Amsterdam")
    expect(anna.page.locator("#id_budget_error")).to_have_text("Ensure this value is greater than or equal to 1.")
    expect(anna.page.locator("#id_duration_hours_error")).to_have_text("Ensure this value is greater than or equal to 0.5.")
    # What was typed is kept.
    expect(anna.page.locator("#id_title")).to_have_value("Deep clean")
    screenshot(anna.page, "post-job-errors-laptop", full_page=True)
    assert not CleaningJob.objects.exists()

    # The bid form.
    cleaner = CleanerFactory(first_name="Ben")
    job = CleaningJobFactory(title="Kitchen deep clean")
    ben = people(live_server_url, cleaner, phone=True)
    ben.page.goto(f"/jobs/{job.pk}/")
    ben.page.fill("#id_amount", "-5")
    ben.page.click("button:has-text('Place bid')")
    expect(ben.page.locator("#id_amount_error")).to_have_text("Ensure this value is greater than or equal to 1.")
    ben.page.locator("#id_amount").scroll_into_view_if_needed()
    screenshot(ben.page, "bid-form-error-phone")

    # The message form: empty.
    JobBidFactory(job=job, cleaner=cleaner)
    ben.page.goto(f"/jobs/{job.pk}/")
    ben.page.click("#messages button:has-text('Send')")
    expect(ben.page.locator("#id_body_error")).to_have_text("This field is required.")

    # The login form.
    stranger = people(live_server_url, client, login=False)
    stranger.page.goto("/login/")
    screenshot(stranger.page, "login-laptop")
    stranger.page.fill("#id_username", client.username)
    stranger.page.fill("#id_password", "wrong")
    stranger.page.click("button[type=submit]")
    expect(stranger.page.locator(".form-alert")).to_contain_text("Please enter a correct username and password")


def test_page_tour_for_screenshots(live_server_url, people):
    client = ClientFactory(first_name="Anna", last_name="de Vries")
    cleaner = CleanerFactory(first_name="Ben", last_name="Okafor")
    jobs = [
        CleaningJobFactory(client=client, title="Spring clean of a 2-bedroom flat", service_type="deep"),
        CleaningJobFactory(client=client, title="Weekly office clean", service_type="office", budget=240),
        CleaningJobFactory(client=client, title="Windows, front and back", service_type="windows", budget=60, status="completed"),
    ]
    JobBidFactory(job=jobs[0], cleaner=cleaner, amount=110)
    JobBidFactory(job=jobs[0], amount=125)
    for title, kind, priority in (
        ("New bid on Spring clean of a 2-bedroom flat", "bid_received", "medium"),
        ("Windows, front and back is done", "job_completed", "high"),
        ("Scheduled maintenance tonight", "system_alert", "urgent"),
    ):
        NotificationFactory(recipient=client, title=title, notification_type=kind, priority=priority, message="", action_url=f"/jobs/{jobs[0].pk}/")

    anna = people(live_server_url, client)
    anna.goto_live("/jobs/mine/")
    screenshot(anna.page, "my-jobs-laptop")
    anna.goto_live("/notifications/preferences/")
    screenshot(anna.page, "preferences-laptop", full_page=True)

    phone = people(live_server_url, client, phone=True)
    phone.goto_live("/jobs/mine/")
    screenshot(phone.page, "my-jobs-phone")
    phone.page.click("#bell")
    screenshot(phone.page, "bell-dropdown-phone")
    phone.goto_live("/notifications/")
    screenshot(phone.page, "notifications-list-phone")

    ben = people(live_server_url, cleaner, phone=True)
    ben.goto_live("/board/")
    screenshot(ben.page, "board-phone")
    login = people(live_server_url, client, phone=True, login=False)
    login.page.goto("/login/")
    screenshot(login.page, "login-phone")
