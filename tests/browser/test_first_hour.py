"""A newcomer's first hour, as README's "Your first hour" tells it: one client, one cleaner, one job.

Each step is saved as docs/screenshots/first-hour/NN-step.png (laptop width), the pictures the README links.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from jobs.models import CleanerProfile, CleaningJob, JobMessage, JobStatus, Payment, PaymentStatus
from tests.factories import PASSWORD, CleanerFactory, ClientFactory

from .conftest import LIVE_MS, screenshot
from .helpers import assert_not_reloaded, expect_live_toast, mark_no_reload

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def step(page, number: int, name: str, *, full_page: bool = False) -> None:
    if full_page:
        # From the top: scrolled, a full-page shot draws the sticky top bar halfway down.
        page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, f"first-hour/{number:02d}-{name}", full_page=full_page)


def dismiss_toasts(page) -> None:
    """Close every toast, as the user would, so the step's screenshot shows the page under them."""
    for close in page.locator("#toasts .toast-close").all():
        close.click()
    expect(page.locator("#toasts .toast")).to_have_count(0)


def test_first_hour_walk_through(worker, live_server_url, people):
    client = ClientFactory(username="client1", first_name="Anna", last_name="de Vries")
    cleaner = CleanerFactory(username="cleaner1", first_name="Ben", last_name="Okafor")
    anna = people(live_server_url, client, login=False)
    ben = people(live_server_url, cleaner)

    # 1. The client logs in.
    anna.page.goto("/login/")
    anna.page.fill("#id_username", "client1")
    anna.page.fill("#id_password", PASSWORD)
    step(anna.page, 1, "client-logs-in")
    anna.page.click("button[type=submit]")
    anna.page.wait_for_url("**/jobs/mine/")

    # 2. The cleaner (another browser) says where they work, by address, on their profile.
    ben.page.click("nav.mainnav a:has-text('Profile')")
    ben.page.wait_for_url("**/profile/")
    ben.page.fill("#id_service_area_address", "Javastraat 12")
    ben.page.fill("#id_service_area_city", "Amsterdam")
    ben.page.fill("#id_service_radius_km", "10")
    ben.page.click("button:has-text('Save profile')")
    expect(ben.page.locator(".flash-success")).to_contain_text("Profile saved")
    expect(ben.page.locator("[data-profile-summary]")).to_contain_text("within 10 km of Javastraat 12, Amsterdam")
    profile = CleanerProfile.objects.get(user=cleaner)
    assert (profile.latitude, profile.longitude, profile.service_radius_km) == (52.363, 4.939, 10.0)
    step(ben.page, 2, "cleaner-profile", full_page=True)

    # 3. The cleaner waits on the job board, live.
    ben.goto_live("/board/")
    mark_no_reload(ben.page)
    expect(ben.page.locator("[data-live-board] [data-job-id]")).to_have_count(0)
    step(ben.page, 3, "cleaner-board-waiting")

    # 4. The client posts a job by address: no coordinates asked.
    anna.page.click("nav.mainnav a:has-text('Post a job')")
    expect(anna.page.locator("#id_latitude")).to_have_attribute("type", "hidden")
    start = (timezone.localtime() + timedelta(days=2)).replace(hour=10, minute=0)
    anna.page.fill("#id_title", "Deep clean of a 2-bedroom flat")
    anna.page.select_option("#id_service_type", "deep")
    anna.page.fill("#id_description", "Kitchen, bathroom, two bedrooms. The key is with the neighbour at 261.")
    anna.page.fill("#id_address", "Prinsengracht 263, 1016 GV")
    anna.page.fill("#id_city", "Amsterdam")
    anna.page.fill("#id_scheduled_start", start.strftime("%Y-%m-%dT%H:%M"))
    # The map shows where the address was found (no tiles here: the browser reaches no outside address).
    expect(anna.page.locator("[data-place-status]")).to_have_text(
        "Found: Prinsengracht, Centrum, Amsterdam. Drag the pin if the job is somewhere else nearby."
    )
    expect(anna.page.locator("[data-place-canvas] .leaflet-marker-icon")).to_be_visible()
    anna.page.fill("#id_duration_hours", "3.5")
    anna.page.fill("#id_budget", "140")
    step(anna.page, 4, "client-posts-a-job-by-address", full_page=True)
    anna.page.click("button:has-text('Post job')")
    anna.page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = CleaningJob.objects.get()
    assert (job.address, job.latitude, job.longitude) == ("Prinsengracht 263, 1016 GV", 52.3703, 4.8826)
    expect(anna.page.locator(".flash-success")).to_contain_text("Your job is posted")
    expect(anna.page.locator("#conn")).to_have_attribute("data-state", "live")
    mark_no_reload(anna.page)
    step(anna.page, 5, "client-job-posted")

    # 6. It appears on the cleaner's board at once, with a toast.
    expect_live_toast(ben.page, "New Deep cleaning job in Amsterdam")
    card = ben.page.locator(f'[data-live-board] [data-job-id="{job.pk}"]')
    expect(card).to_be_visible(timeout=LIVE_MS)
    assert_not_reloaded(ben.page)
    step(ben.page, 6, "cleaner-sees-the-job-live")

    # 7. The cleaner opens it and bids.
    card.locator(".job-card-title").click()
    ben.page.wait_for_url(f"**/jobs/{job.pk}/")
    ben.page.fill("#id_amount", "125")
    ben.page.fill("#id_message", "I can come at 10 and bring eco-friendly products.")
    step(ben.page, 7, "cleaner-bids")
    ben.page.click("button:has-text('Place bid')")
    expect(ben.page.locator(".flash-success")).to_contain_text("Your bid is in")
    expect(ben.page.locator("#conn")).to_have_attribute("data-state", "live")
    mark_no_reload(ben.page)

    # 8. The bid appears on the client's open job page, with a toast; the client accepts it.
    bid = anna.page.locator("#bids .bid", has_text="Ben Okafor")
    expect(bid).to_be_visible(timeout=LIVE_MS)
    expect_live_toast(anna.page, "New bid on Deep clean of a 2-bedroom flat")
    assert_not_reloaded(anna.page)
    step(anna.page, 8, "client-sees-the-bid-live")
    bid.locator("button:has-text('Accept')").click()
    expect(anna.page.locator(".flash-success")).to_contain_text("You accepted Ben Okafor's bid")
    expect(anna.page.locator(".status-card .pill").first).to_have_text("Assigned")
    expect(anna.page.locator("#conn")).to_have_attribute("data-state", "live")
    mark_no_reload(anna.page)
    step(anna.page, 9, "client-accepts")

    # 10. The cleaner is told on the page they have open, then starts and completes the job.
    expect_live_toast(ben.page, "Your bid was accepted")
    expect(ben.page.locator("button:has-text('Start job')")).to_be_visible(timeout=LIVE_MS)
    assert_not_reloaded(ben.page)
    step(ben.page, 10, "cleaner-is-accepted")
    ben.page.click("button:has-text('Start job')")
    expect(anna.page.locator(".status-card .pill").first).to_have_text("In progress", timeout=LIVE_MS)
    ben.page.click("button:has-text('Mark as completed')")
    expect(ben.page.locator(".flash-success")).to_contain_text("Marked as completed")
    expect(ben.page.locator("#conn")).to_have_attribute("data-state", "live")
    step(ben.page, 11, "cleaner-completes")

    # 12. The client sees it completed, live, and pays.
    expect(anna.page.locator(".status-card .pill").first).to_have_text("Completed", timeout=LIVE_MS)
    pay = anna.page.locator("button:has-text('Pay €125.00')")
    expect(pay).to_be_visible(timeout=LIVE_MS)
    assert_not_reloaded(anna.page)
    dismiss_toasts(anna.page)  # three have piled up over the status card by now
    step(anna.page, 12, "client-sees-it-completed")
    pay.click()
    expect(anna.page.locator(".flash-success")).to_contain_text("Paid €125.00")
    expect(anna.page.locator(".status-card .pill").first).to_have_text("Paid")
    expect(anna.page.locator("#conn")).to_have_attribute("data-state", "live")
    step(anna.page, 13, "client-pays")
    expect_live_toast(ben.page, "Payment received: €125.00")
    step(ben.page, 14, "cleaner-is-paid")
    assert list(Payment.objects.values_list("status", "amount")) == [(PaymentStatus.SUCCEEDED, 125)]

    # 15. They exchange a message, each seeing the other's arrive live.
    anna.goto_live(f"/jobs/{job.pk}/#messages")
    ben.goto_live(f"/jobs/{job.pk}/#messages")
    mark_no_reload(ben.page)
    anna.page.fill("#id_body", "Thank you Ben, the flat looks wonderful!")
    anna.page.click("#messages button:has-text('Send')")
    expect(ben.page.locator("#messages .msg", has_text="the flat looks wonderful")).to_be_visible(timeout=LIVE_MS)
    expect_live_toast(ben.page, "New message from Anna de Vries")
    mark_no_reload(anna.page)
    ben.page.fill("#id_body", "Glad you like it. See you next time!")
    ben.page.click("#messages button:has-text('Send')")
    expect(anna.page.locator("#messages .msg", has_text="See you next time")).to_be_visible(timeout=LIVE_MS)
    expect_live_toast(anna.page, "New message from Ben Okafor")
    assert_not_reloaded(anna.page)
    anna.page.locator("#messages").scroll_into_view_if_needed()
    step(anna.page, 15, "they-exchange-messages")

    assert CleaningJob.objects.get().status == JobStatus.COMPLETED
    assert JobMessage.objects.count() == 2
    for person in (anna, ben):
        assert person.dialogs == [] and person.errors == [], (person.user.username, person.dialogs, person.errors)
