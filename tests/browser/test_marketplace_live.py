"""A job from posting to payment, watched live by everyone involved (and by people who are not)."""

import re

import pytest
from playwright.sync_api import expect

from jobs.models import BidStatus, JobBid
from notifications.models import Notification
from tests.factories import CleanerFactory, ClientFactory

from .conftest import LIVE_MS, screenshot
from .helpers import assert_not_reloaded, badge, expect_live_toast, mark_no_reload, post_job, toast

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_post_bid_accept_and_pay_all_live(worker, live_server_url, people):
    client = ClientFactory(first_name="Anna", last_name="de Vries")
    winner = CleanerFactory(first_name="Ben", last_name="Okafor")
    loser = CleanerFactory(first_name="Cleo", last_name="Martin")
    bystander = CleanerFactory(first_name="Dana", last_name="Kowalski")
    far_away = CleanerFactory(first_name="Eve", profile__latitude=48.8566, profile__longitude=2.3522)

    anna = people(live_server_url, client)
    ben = people(live_server_url, winner)
    cleo = people(live_server_url, loser, phone=True)
    dana = people(live_server_url, bystander)
    eve = people(live_server_url, far_away)
    for cleaner in (ben, cleo, dana, eve):
        cleaner.goto_live("/board/")
        mark_no_reload(cleaner.page)
    screenshot(eve.page, "board-empty-laptop")

    # The client posts a job through the form.
    job_id = post_job(anna.page, title="Spring clean of a 2-bedroom flat", service="deep", budget="140")
    expect(anna.page.locator(".flash-success")).to_contain_text("Your job is posted")

    # Every eligible cleaner: the badge goes up and a toast shows within 2 s, without a reload.
    for cleaner in (ben, cleo, dana):
        expect(badge(cleaner.page)).to_have_text("1", timeout=LIVE_MS)
        expect_live_toast(cleaner.page, "New Deep cleaning job in Amsterdam")
        expect(cleaner.page.locator(f'[data-live-board] [data-job-id="{job_id}"]')).to_be_visible(timeout=LIVE_MS)
        assert_not_reloaded(cleaner.page)
    screenshot(ben.page, "board-new-job-toast-laptop")
    screenshot(cleo.page, "board-new-job-toast-phone")

    # The cleaner out of range sees nothing.
    eve.page.wait_for_timeout(1000)
    expect(badge(eve.page)).to_be_hidden()
    expect(eve.page.locator("#toasts .toast")).to_have_count(0)
    expect(eve.page.locator(f'[data-job-id="{job_id}"]')).to_have_count(0)
    assert not Notification.objects.filter(recipient=far_away).exists()

    # Ben opens it from the board and bids.
    mark_no_reload(anna.page)
    expect(anna.page.locator("#conn")).to_have_attribute("data-state", "live")
    ben.page.click(f'[data-job-id="{job_id}"] .job-card-title')
    ben.page.wait_for_url(f"**/jobs/{job_id}/")
    ben.page.fill("#id_amount", "120")
    ben.page.fill("#id_message", "Eight years of experience; I bring eco-friendly products.")
    screenshot(ben.page, "job-cleaner-bid-form-laptop")
    ben.page.click("button:has-text('Place bid')")
    expect(ben.page.locator(".flash-success")).to_contain_text("Your bid is in")

    # The client's open job page shows the bid, and a toast, live.
    expect(anna.page.locator("#bids .bid", has_text="Ben Okafor")).to_be_visible(timeout=LIVE_MS)
    expect_live_toast(anna.page, "New bid on Spring clean of a 2-bedroom flat")
    expect(badge(anna.page)).to_have_text("1")

    # Cleo bids from her phone.
    cleo.page.goto(f"/jobs/{job_id}/")
    cleo.page.fill("#id_amount", "110")
    cleo.page.fill("#id_message", "Free on Friday morning.")
    cleo.page.click("button:has-text('Place bid')")
    expect(anna.page.locator("#bids .bid", has_text="Cleo Martin")).to_be_visible(timeout=LIVE_MS)
    expect(anna.page.locator("[data-bid-count]")).to_have_text("2")
    expect(badge(anna.page)).to_have_text("2")
    assert_not_reloaded(anna.page)
    screenshot(anna.page, "job-client-bids-live-laptop")

    ben_bid = JobBid.objects.get(job_id=job_id, cleaner=winner)
    cleo_bid = JobBid.objects.get(job_id=job_id, cleaner=loser)
    ben.goto_live("/bids/mine/")
    cleo.goto_live("/bids/mine/")
    mark_no_reload(ben.page)
    mark_no_reload(cleo.page)

    # The client accepts Ben's bid.
    anna.page.locator("#bids .bid", has_text="Ben Okafor").locator("button:has-text('Accept')").click()
    expect(anna.page.locator(".flash-success")).to_contain_text("You accepted Ben Okafor's bid")

    # Ben: accepted; Cleo: rejected; Dana: the job leaves her board and her offer is withdrawn.
    expect(ben.page.locator(f'[data-bid-id="{ben_bid.pk}"] [data-bid-status]')).to_have_text("Accepted", timeout=LIVE_MS)
    expect_live_toast(ben.page, "Your bid was accepted")
    expect(cleo.page.locator(f'[data-bid-id="{cleo_bid.pk}"] [data-bid-status]')).to_have_text("Rejected", timeout=LIVE_MS)
    expect_live_toast(cleo.page, "was not accepted")
    expect(dana.page.locator(f'[data-job-id="{job_id}"]')).to_have_count(0, timeout=LIVE_MS)
    expect(badge(dana.page)).to_be_hidden(timeout=LIVE_MS)
    expect(dana.page.locator(f'#bell-list [data-notification-id]')).to_have_count(0)
    for person in (ben, cleo, dana):
        assert_not_reloaded(person.page)
    screenshot(ben.page, "my-bids-accepted-laptop")
    screenshot(cleo.page, "my-bids-rejected-phone")

    # Start to finish: the client's page follows each step live.
    expect(anna.page.locator(".status-card .pill").first).to_have_text("Assigned")
    mark_no_reload(anna.page)
    ben.goto_live(f"/jobs/{job_id}/")
    ben.page.click("button:has-text('Start job')")
    expect(anna.page.locator(".status-card .pill").first).to_have_text("In progress", timeout=LIVE_MS)
    ben.page.click("button:has-text('Mark as completed')")
    expect(anna.page.locator(".status-card .pill").first).to_have_text("Completed", timeout=LIVE_MS)
    pay = anna.page.locator("button:has-text('Pay €120.00')")
    expect(pay).to_be_visible(timeout=LIVE_MS)
    assert_not_reloaded(anna.page)
    screenshot(anna.page, "job-client-completed-laptop")
    pay.click()
    expect(anna.page.locator(".flash-success")).to_contain_text("Paid €120.00")
    expect(anna.page.locator(".status-card .pill").first).to_have_text("Paid")

    # Ben is told he was paid, on the page he has open.
    expect_live_toast(ben.page, "Payment received: €120.00")
    expect(ben.page.locator(".status-card .pill").first).to_have_text("Paid", timeout=LIVE_MS)
    screenshot(ben.page, "job-cleaner-paid-laptop")
    assert JobBid.objects.get(pk=ben_bid.pk).status == BidStatus.ACCEPTED

    for person in (anna, ben, cleo, dana, eve):
        assert person.dialogs == [] and person.errors == [], (person.user.username, person.dialogs, person.errors)


def test_client_job_page_on_a_phone(worker, live_server_url, people):
    client = ClientFactory(first_name="Anna", last_name="de Vries")
    anna = people(live_server_url, client, phone=True)
    cleaner = CleanerFactory(first_name="Ben", last_name="Okafor")
    ben = people(live_server_url, cleaner)
    job_id = post_job(anna.page, title="Move-out clean, 3 rooms", service="move_out", budget="220")
    expect(anna.page.locator("#conn")).to_have_attribute("data-state", "live")
    screenshot(anna.page, "job-client-open-phone", full_page=True)

    ben.goto_live(f"/jobs/{job_id}/")
    ben.page.fill("#id_amount", "205")
    ben.page.fill("#id_message", "I can start at 9.")
    ben.page.click("button:has-text('Place bid')")
    expect(anna.page.locator("#bids .bid", has_text="Ben Okafor")).to_be_visible(timeout=LIVE_MS)
    expect(toast(anna.page, "New bid on Move-out clean, 3 rooms")).to_be_visible(timeout=LIVE_MS)
    screenshot(anna.page, "job-client-bid-toast-phone")
    # The toast goes away by itself after about 6 s.
    expect(toast(anna.page, "New bid on Move-out clean")).to_have_count(0, timeout=8000)
    assert re.search(r"/jobs/\d+/$", anna.page.url)


def test_messages_arrive_live_on_the_job_page(worker, live_server_url, people):
    from jobs.models import JobStatus
    from tests.factories import CleaningJobFactory, JobBidFactory, JobMessageFactory

    client = ClientFactory(first_name="Anna", last_name="de Vries")
    cleaner = CleanerFactory(first_name="Ben", last_name="Okafor")
    job = CleaningJobFactory(client=client, title="Deep clean after renovation", status=JobStatus.ASSIGNED, assigned_cleaner=cleaner)
    JobBidFactory(job=job, cleaner=cleaner, amount=180, status=BidStatus.ACCEPTED)
    JobMessageFactory(job=job, sender=client, recipient=cleaner, body="Hi Ben, the key is with the neighbour at number 12.")

    anna = people(live_server_url, client)
    ben = people(live_server_url, cleaner, phone=True)
    anna.goto_live(f"/jobs/{job.pk}/#messages")
    mark_no_reload(anna.page)
    ben.goto_live(f"/jobs/{job.pk}/")

    ben.page.fill("#id_body", "Thanks! I'll pick it up at 8:45 and start at 9.")
    ben.page.click("#messages button:has-text('Send')")
    ben.page.wait_for_url(f"**/jobs/{job.pk}/#messages")
    expect(ben.page.locator("#messages .msg-mine")).to_contain_text("I'll pick it up at 8:45")

    expect(anna.page.locator("#messages .msg", has_text="I'll pick it up at 8:45")).to_be_visible(timeout=LIVE_MS)
    expect_live_toast(anna.page, "New message from Ben Okafor")
    assert_not_reloaded(anna.page)
    anna.page.locator("#messages").scroll_into_view_if_needed()
    screenshot(anna.page, "job-messages-live-laptop")

    # A half-typed reply survives the thread refreshing under it.
    anna.page.fill("#id_body", "Perfect, see you then")
    ben.page.fill("#id_body", "One more thing: is there parking?")
    ben.page.click("#messages button:has-text('Send')")
    expect(anna.page.locator("#messages .msg", has_text="is there parking?")).to_be_visible(timeout=LIVE_MS)
    expect(anna.page.locator("#id_body")).to_have_value("Perfect, see you then")
    anna.page.click("#messages button:has-text('Send')")
    expect(ben.page.locator("#messages .msg", has_text="Perfect, see you then")).to_be_visible(timeout=LIVE_MS)
    ben.page.locator("#messages").scroll_into_view_if_needed()
    screenshot(ben.page, "job-messages-phone")
    assert anna.errors == [] and ben.errors == []
