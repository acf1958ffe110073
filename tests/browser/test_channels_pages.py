"""Email and push, as people see them: the preferences grid in a real browser, and an email as a mail client renders it."""

import time
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from devtools.processes import free_port
from devtools.smtp_server import SmtpServer
from jobs import services as job_services
from notifications.models import ChannelDigest, NotificationChannelPreference
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory

from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_a_client_turns_a_types_email_off_in_the_grid(live_server_url, people):
    client = ClientFactory(first_name="Anna")
    anna = people(live_server_url, client)
    anna.page.goto("/notifications/preferences/")

    grid = anna.page.locator(".pref-grid")
    expect(grid.locator("thead th")).to_have_text(["Notification", "In-app", "Email", "Push"])
    bids = grid.locator('tr[data-type="bid_received"]')
    # Every switch sits under its column's heading (a row header laid out as flex once broke the columns).
    for column, channel in ((2, "in_app"), (3, "email"), (4, "push")):
        heading = grid.locator(f"thead th:nth-child({column})").bounding_box()
        cell = bids.locator(f'td[data-channel="{channel}"]').bounding_box()
        assert abs((heading["x"] + heading["width"] / 2) - (cell["x"] + cell["width"] / 2)) < 4, channel
    expect(bids.locator('td[data-channel="email"] input')).to_be_checked()
    screenshot(anna.page, "preferences-channels-laptop", full_page=True)
    bids.locator('td[data-channel="email"] .switch').click()
    anna.page.click("button:has-text('Save settings')")

    expect(anna.page.locator(".flash-success")).to_be_visible()
    expect(anna.page.locator('tr[data-type="bid_received"] td[data-channel="email"] input')).not_to_be_checked()
    expect(anna.page.locator('tr[data-type="bid_received"] td[data-channel="push"] input')).to_be_checked()
    assert NotificationChannelPreference.objects.get(user=client, notification_type="bid_received", channel="email").is_enabled is False
    assert anna.errors == []


def test_an_email_as_a_mail_client_shows_it(people, live_server_url, settings, django_capture_on_commit_callbacks):
    server = SmtpServer(free_port())
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.port, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    try:
        client = ClientFactory(first_name="Anna", last_name="de Vries")
        cleaner = CleanerFactory(first_name="Ben", email="ben@example.com")
        job = CleaningJobFactory(client=client, title="Spring clean of a 2-bedroom flat")
        with django_capture_on_commit_callbacks(execute=True):
            bid = job_services.bid_place(job=job, cleaner=cleaner, amount=Decimal("110"))
        with django_capture_on_commit_callbacks(execute=True):
            job_services.bid_accept(bid=bid, client=client)
        [message] = server.messages
    finally:
        server.stop()

    reader = people(live_server_url, cleaner)
    reader.page.set_content(message.get_body(("html",)).get_content())
    expect(reader.page.get_by_role("heading", name="Your bid was accepted")).to_be_visible()
    expect(reader.page.get_by_text("Anna de Vries accepted your bid of €110.00 for Spring clean of a 2-bedroom flat")).to_be_visible()
    expect(reader.page.locator(f'a[href$="/jobs/{job.pk}/"]').first).to_be_visible()
    screenshot(reader.page, "email-bid-accepted")


def test_a_digest_email_as_a_mail_client_shows_it(people, live_server_url, settings, django_capture_on_commit_callbacks):
    from notifications.channels import digests

    server = SmtpServer(free_port())
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.port, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.CHANNEL_FALLBACK_SECONDS, settings.DIGEST_WINDOW_SECONDS = 0, 5
    try:
        client = ClientFactory(first_name="Anna", last_name="de Vries")
        job = CleaningJobFactory(client=client, title="Spring clean of a 2-bedroom flat")
        for name, amount in (("Ben", "110"), ("Chloé", "95"), ("Dirk", "120"), ("Eva", "105")):
            with django_capture_on_commit_callbacks(execute=True):
                job_services.bid_place(job=job, cleaner=CleanerFactory(first_name=name, last_name="Jansen"), amount=Decimal(amount))
        [digest] = ChannelDigest.objects.filter(state="open")
        time.sleep(max((digest.window_ends_at - timezone.now()).total_seconds(), 0) + 0.1)  # the window ends
        digests.channel_digests_send(digest_ids=[digest.pk])
        first, message = server.messages
    finally:
        server.stop()

    reader = people(live_server_url, client)
    reader.page.set_content(message.get_body(("html",)).get_content())
    expect(reader.page.get_by_role("heading", name="3 new bids on Spring clean of a 2-bedroom flat")).to_be_visible()
    body = reader.page.locator("p", has_text="You have 3 new bids")
    expect(body).to_contain_text("offers €95.00.")
    expect(body).to_contain_text("offers €105.00.")
    expect(body).not_to_contain_text("offers €110.00.")  # the first bid went at once, on its own
    expect(reader.page.locator(f'a[href$="/jobs/{job.pk}/"]').first).to_be_visible()
    expect(reader.page.get_by_role("link", name="Open them")).to_be_visible()
    screenshot(reader.page, "digest-email")
