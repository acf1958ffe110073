"""The bell across tabs, and a stream that drops and comes back without losing or repeating anything."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from devtools.processes import free_port, wait_for
from jobs import services as job_services
from notifications.sse import publishing
from notifications.models import Notification
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory
from tests.integration.conftest import start_server
from tests.notifications.factories import NotificationFactory

from .conftest import LIVE_MS, screenshot, start_server_on
from .helpers import assert_not_reloaded, badge, bell_ids, mark_no_reload, toast

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_mark_read_in_one_tab_updates_the_badge_in_another(live_server_url, people):
    client = ClientFactory(first_name="Anna")
    job = CleaningJobFactory(client=client, title="Weekly office clean")
    notes = [
        NotificationFactory(recipient=client, title=f"New bid on Weekly office clean ({name})", message=f"{name} offers €{price}.00.",
                            action_url=f"/jobs/{job.pk}/", metadata={"job_id": job.pk})
        for name, price in (("Ben", 95), ("Cleo", 90), ("Dev", 99))
    ]
    NotificationFactory(recipient=client, notification_type="system_alert", priority="urgent", title="Scheduled maintenance tonight",
                        message="The site will be read-only from 02:00 to 02:30 UTC.", action_url="/notifications/")
    anna = people(live_server_url, client)
    first, second = anna.page, anna.new_tab()
    anna.goto_live("/notifications/", first)
    anna.goto_live("/jobs/mine/", second)
    mark_no_reload(second)
    expect(badge(first)).to_have_text("4")
    expect(badge(second)).to_have_text("4")
    screenshot(first, "notifications-list-laptop")

    # Open the dropdown in the first tab and click a notification: it is marked read and opens its page.
    first.click("#bell")
    expect(first.locator("#bell-panel")).to_be_visible()
    screenshot(first, "bell-dropdown-laptop")
    first.click(f'#bell-list [data-notification-link="{notes[1].pk}"]')
    first.wait_for_url(f"**/jobs/{job.pk}/")
    expect(badge(second)).to_have_text("3", timeout=LIVE_MS)
    expect(second.locator(f'#bell-list [data-notification-id="{notes[1].pk}"]')).not_to_have_class("is-unread", timeout=LIVE_MS)
    assert Notification.objects.get(pk=notes[1].pk).is_read

    # "Mark all read" from the first tab's dropdown empties the badge in the second.
    anna.goto_live(f"/jobs/{job.pk}/", first)
    first.click("#bell")
    first.click("#bell-read-all button")
    expect(badge(first)).to_be_hidden()
    expect(badge(second)).to_be_hidden(timeout=LIVE_MS)
    expect(second.locator("#bell-list .is-unread")).to_have_count(0)
    assert_not_reloaded(second)
    assert not Notification.objects.filter(recipient=client, is_read=False).exists()
    assert anna.dialogs == [] and anna.errors == []


def test_the_full_list_page_mark_read_without_javascript_tricks(live_server_url, people):
    client = ClientFactory()
    note = NotificationFactory(recipient=client, title="Your bid was accepted", notification_type="bid_accepted", priority="high")
    anna = people(live_server_url, client)
    other_tab = anna.new_tab()
    anna.goto_live("/jobs/mine/", other_tab)
    anna.goto_live("/notifications/")
    anna.page.click(f'[data-notification-id="{note.pk}"] button:has-text("Mark read")')
    anna.page.wait_for_load_state()
    expect(badge(other_tab)).to_be_hidden(timeout=LIVE_MS)
    expect(anna.page.locator(f'#main [data-notification-id="{note.pk}"]')).not_to_have_class("is-unread")


def bids_on(job, cleaners, start_price=100):
    for offset, cleaner in enumerate(cleaners):
        job_services.bid_place(job=job, cleaner=cleaner, amount=Decimal(start_price + offset), message=f"Offer {offset + 1}")


def test_offline_page_catches_up_on_every_missed_notification_once(live_server_url, people, publish_through_redis):
    client = ClientFactory(first_name="Anna")
    job = CleaningJobFactory(client=client, title="Window cleaning, 12 windows")
    cleaners = [CleanerFactory(first_name=name) for name in ("Ben", "Cleo", "Dev")]
    anna = people(live_server_url, client)
    page = anna.goto_live(f"/jobs/{job.pk}/")
    mark_no_reload(page)

    anna.context.set_offline(True)
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    # Sent while the page is away: published through Redis to nobody.
    bids_on(job, cleaners)
    wait_for(lambda: Notification.objects.filter(recipient=client).count() == 3, timeout=15, what="three bid notifications")
    expect(page.locator("#toasts .toast")).to_have_count(0)
    screenshot(page, "connection-offline-laptop")

    anna.context.set_offline(False)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)
    expected = sorted(Notification.objects.filter(recipient=client).values_list("pk", flat=True))
    expect(page.locator("#bell-list [data-notification-id]")).to_have_count(3, timeout=LIVE_MS)
    expect(badge(page)).to_have_text("3")
    expect(page.locator("#toasts .toast")).to_have_count(1)  # three bids on one job: one group, one toast
    expect(page.locator("#bids .bid")).to_have_count(3, timeout=LIVE_MS)

    # A retried publish repeats them: nothing shows twice.
    publishing.publish_notifications(Notification.objects.filter(recipient=client))
    page.wait_for_timeout(700)
    assert sorted(bell_ids(page)) == expected
    expect(badge(page)).to_have_text("3")
    expect(page.locator("#toasts .toast")).to_have_count(1)
    assert_not_reloaded(page)
    assert anna.errors == []


def test_a_notification_published_late_while_the_page_was_offline_shows_once_it_is_back(
    live_server_url, people, publish_through_redis
):
    """A and B commit in that order, but B's frame goes out first and A's only while the page is offline."""
    client = ClientFactory()
    old = NotificationFactory(recipient=client, title="Old news")
    anna = people(live_server_url, client)
    page = anna.goto_live("/jobs/mine/")
    mark_no_reload(page)
    late = NotificationFactory(recipient=client, notification_type="system_alert", priority="urgent", title="A: published late")
    first = NotificationFactory(recipient=client, notification_type="system_alert", priority="urgent", title="B: published first")
    publishing.publish_notifications(Notification.objects.filter(pk=first.pk))
    expect(page.locator(f'#bell-list [data-notification-id="{first.pk}"]')).to_have_count(1, timeout=LIVE_MS)

    anna.context.set_offline(True)
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    publishing.publish_notifications(Notification.objects.filter(pk=late.pk))  # to nobody
    anna.context.set_offline(False)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)

    # The page reconnects from the gap before A: A is replayed, B's repeat is dropped by id.
    expect(page.locator(f'#bell-list [data-notification-id="{late.pk}"]')).to_have_count(1, timeout=LIVE_MS)
    page.wait_for_timeout(700)
    assert sorted(bell_ids(page)) == sorted([old.pk, late.pk, first.pk])
    expect(badge(page)).to_have_text("3")
    assert_not_reloaded(page)
    assert anna.errors == []


def test_server_restart_page_reconnects_and_replays_once(transactional_db, clean_redis, people, tmp_path, publish_through_redis):
    port = free_port()
    server = start_server_on(tmp_path, port, name="web-1")
    base = f"http://127.0.0.1:{port}"
    try:
        client = ClientFactory(first_name="Anna")
        job = CleaningJobFactory(client=client, title="Carpet cleaning, living room")
        cleaners = [CleanerFactory(first_name=name) for name in ("Ben", "Cleo", "Dev", "Eli")]
        bids_on(job, cleaners[:1])
        before = Notification.objects.get(recipient=client)

        anna = people(base, client)
        page = anna.goto_live(f"/jobs/{job.pk}/")
        mark_no_reload(page)
        expect(badge(page)).to_have_text("1")

        server.stop()
        expect(page.locator("#conn")).not_to_have_attribute("data-state", "live", timeout=5000)
        bids_on(job, cleaners[1:], start_price=110)
        wait_for(lambda: Notification.objects.filter(recipient=client).count() == 4, timeout=15, what="the missed notifications")

        server = start_server_on(tmp_path, port, name="web-2")
        expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)
        expected = sorted(Notification.objects.filter(recipient=client).values_list("pk", flat=True))
        expect(page.locator("#bell-list [data-notification-id]")).to_have_count(4, timeout=LIVE_MS)
        assert sorted(bell_ids(page)) == expected
        assert before.pk in expected
        expect(badge(page)).to_have_text("4")
        # The three new bids join the one already shown: one group, one toast (not one per bid).
        expect(page.locator("#toasts .toast")).to_have_count(1)
        expect(page.locator(f'#bell-list > [data-group-key="bids:job:{job.pk}"]')).to_have_attribute("data-group-count", "4")
        expect(page.locator("#bids .bid")).to_have_count(4, timeout=LIVE_MS)
        assert_not_reloaded(page)
        assert anna.errors == []
    finally:
        server.stop()


def test_too_much_missed_resets_from_the_api(live_server_url, people, publish_through_redis):
    from notifications.sse.opening import REPLAY_LIMIT

    client = ClientFactory(first_name="Anna")
    first = NotificationFactory(recipient=client, title="Before the gap")
    anna = people(live_server_url, client)
    page = anna.goto_live("/jobs/mine/")
    mark_no_reload(page)
    anna.context.set_offline(True)
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    Notification.objects.bulk_create(
        Notification(recipient=client, notification_type="system_alert", priority="urgent", title=f"Announcement {i}")
        for i in range(REPLAY_LIMIT + 10)
    )
    newest = Notification.objects.filter(recipient=client).latest("pk")

    anna.context.set_offline(False)
    # The server says "reset"; the page reloads the latest from the API and carries on from there.
    expect(page.locator("#bell-list [data-notification-id]").first).to_have_attribute(
        "data-notification-id", str(newest.pk), timeout=5000
    )
    expect(badge(page)).to_have_text("99+", timeout=LIVE_MS)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=5000)
    assert len(bell_ids(page)) == 20 and len(set(bell_ids(page))) == 20
    assert first.pk not in bell_ids(page)
    # Live again after the reset: a new one arrives once.
    later = NotificationFactory(recipient=client, title="After the reset")
    publishing.publish_notifications(Notification.objects.filter(pk=later.pk))
    expect(toast(page, "After the reset")).to_be_visible(timeout=LIVE_MS)
    expect(page.locator("#bell-list [data-notification-id]").first).to_have_attribute("data-notification-id", str(later.pk))
    assert_not_reloaded(page)
    assert anna.errors == []


def test_logging_out_in_one_tab_shows_the_other_as_signed_out(live_server_url, people):
    client = ClientFactory(first_name="Anna")
    anna = people(live_server_url, client)
    other = anna.new_tab()
    anna.goto_live("/jobs/mine/", other)
    anna.goto_live("/jobs/mine/")
    anna.page.click(".account summary")
    anna.page.click("button:has-text('Log out')")
    anna.page.wait_for_url("**/login/")
    conn = other.locator("#conn")
    expect(conn).to_have_attribute("data-state", "offline", timeout=LIVE_MS)
    expect(conn).to_contain_text("Signed out")
    # It stays that way: no reconnect loop against a closed session.
    other.wait_for_timeout(3000)
    expect(conn).to_have_attribute("data-state", "offline")


def test_a_tab_past_the_per_user_cap_pauses_the_oldest_tab_without_a_reconnect_loop(
    transactional_db, clean_redis, people, tmp_path
):
    server, base = start_server(tmp_path, SSE_MAX_STREAMS_PER_USER="1")
    try:
        anna = people(base, ClientFactory(first_name="Anna"))
        anna.goto_live("/jobs/mine/")
        newer = anna.new_tab()
        anna.goto_live("/jobs/mine/", newer)

        oldest = anna.page.locator("#conn")
        expect(oldest).to_have_attribute("data-state", "offline", timeout=LIVE_MS)
        expect(oldest).to_contain_text("Paused: live in a newer tab")
        # It stays paused (a reconnect would close the newer tab's stream, and so on) and the newer stays live.
        newer.wait_for_timeout(3000)
        expect(oldest).to_have_attribute("data-state", "offline")
        expect(newer.locator("#conn")).to_have_attribute("data-state", "live")
        assert anna.errors == []
    finally:
        server.stop()


def test_bids_in_quick_succession_show_as_one_live_group_with_one_toast(live_server_url, people, publish_through_redis):
    client = ClientFactory(first_name="Anna")
    job = CleaningJobFactory(client=client, title="Spring clean")
    cleaners = [CleanerFactory(first_name=name) for name in ("Ben", "Cleo", "Dev")]
    anna = people(live_server_url, client)
    page = anna.goto_live("/jobs/mine/")
    mark_no_reload(page)

    for cleaner, amount in zip(cleaners, ("95", "120", "100"), strict=True):
        job_services.bid_place(job=job, cleaner=cleaner, amount=Decimal(amount), message="Happy to help")

    summary = "3 new bids on Spring clean, from €95.00 to €120.00"
    group = page.locator(f'#bell-list > [data-group-key="bids:job:{job.pk}"]')
    expect(group.locator("[data-group-summary]")).to_have_text(summary, timeout=LIVE_MS)
    expect(page.locator("#bell-list > li")).to_have_count(1)
    expect(badge(page)).to_have_text("3")  # the badge counts notifications
    page.wait_for_timeout(500)  # past the last bid: a late second toast would show by now
    expect(page.locator("#toasts .toast")).to_have_count(1)
    expect(page.locator("#toasts .toast .toast-title")).to_have_text(summary)
    # The toast's line counts all three: each is seen (the tab is visible), not only the first.
    wait_for(lambda: Notification.objects.filter(recipient=client, seen_at__isnull=False).count() == 3, timeout=5, what="3 seen")

    page.click("#bell")
    group.locator("[data-group-toggle]").click()
    members = group.locator(".bell-members [data-notification-id]")
    expect(members).to_have_count(3)
    expect(members.first).to_be_visible()
    ids = sorted(Notification.objects.filter(recipient=client).values_list("pk", flat=True), reverse=True)
    assert [int(i) for i in members.evaluate_all("nodes => nodes.map(n => n.dataset.notificationId)")] == ids
    screenshot(page, "bell-grouped-laptop")

    other_tab = anna.new_tab()
    anna.goto_live("/notifications/", other_tab)
    expect(other_tab.locator(f'.notif-list > [data-group-key="bids:job:{job.pk}"] [data-group-summary]')).to_have_text(summary)
    # "Mark these read" in the bell: the whole group, in this tab and the other one, without a reload.
    group.locator("form[data-group-read] button").click()
    expect(badge(page)).to_be_hidden()
    expect(badge(other_tab)).to_be_hidden(timeout=LIVE_MS)
    expect(other_tab.locator(f'.notif-list > [data-group-key="bids:job:{job.pk}"]')).not_to_have_class("is-unread", timeout=LIVE_MS)
    expect(group.locator("[data-group-summary]")).to_have_text("3 bids on Spring clean, from €95.00 to €120.00", timeout=LIVE_MS)
    assert not Notification.objects.filter(recipient=client, is_read=False).exists()
    assert_not_reloaded(page)
    assert anna.errors == [] and anna.dialogs == []


def test_a_new_member_of_a_listed_group_updates_it_in_place_and_moves_it_to_the_top(live_server_url, people, publish_through_redis):
    client = ClientFactory(first_name="Anna")
    job = CleaningJobFactory(client=client, title="Spring clean")
    key = f"bids:job:{job.pk}"
    earlier = [
        NotificationFactory(recipient=client, title="New bid on Spring clean", message=f"Offer of €{amount}.00.", group_key=key,
                            job=job, metadata={"job_id": job.pk, "amount": f"{amount}.00"}, action_url=f"/jobs/{job.pk}/")
        for amount in (95, 110)
    ]
    alert = NotificationFactory(recipient=client, notification_type="system_alert", priority="urgent", title="Maintenance tonight")
    anna = people(live_server_url, client)
    page = anna.goto_live("/jobs/mine/")
    mark_no_reload(page)
    entries = page.locator("#bell-list > li")
    expect(entries.first).to_have_attribute("data-notification-id", str(alert.pk))
    expect(entries.nth(1).locator("[data-group-summary]")).to_have_text("2 new bids on Spring clean, from €95.00 to €110.00")
    # Rendered without its members' rows (they would weigh on every page): opening the group loads them.
    page.click("#bell")
    entries.nth(1).locator("[data-group-toggle]").click()
    expect(entries.nth(1).locator(".bell-members [data-notification-id]")).to_have_count(2, timeout=LIVE_MS)
    expect(entries.nth(1).locator(".bell-members [data-notification-id]").first).to_be_visible()

    job_services.bid_place(job=job, cleaner=CleanerFactory(first_name="Dev"), amount=Decimal("130"), message="Free on Friday")

    expect(entries.first.locator("[data-group-summary]")).to_have_text("3 new bids on Spring clean, from €95.00 to €130.00", timeout=LIVE_MS)
    expect(entries).to_have_count(2)
    expect(entries.nth(1)).to_have_attribute("data-notification-id", str(alert.pk))
    expect(badge(page)).to_have_text("4")
    expect(page.locator("#toasts .toast")).to_have_count(1)
    members = entries.first.locator(".bell-members [data-notification-id]")
    expect(members).to_have_count(3)
    assert {int(i) for i in members.evaluate_all("nodes => nodes.map(n => n.dataset.notificationId)")} > {n.pk for n in earlier}
    assert_not_reloaded(page)
    assert anna.errors == []
