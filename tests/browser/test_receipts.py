"""Receipts from a real page: delivered, seen (only while visible), clicked, and replayed frames delivered."""

import pytest
from playwright.sync_api import expect

from devtools.processes import wait_for
from notifications.models import Notification
from notifications.sse import publishing
from tests.factories import CleanerFactory, ClientFactory
from tests.notifications.factories import NotificationFactory

from .conftest import LIVE_MS
from .helpers import toast

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# A page acks a lone frame at once, then at most every second (or at 50 ids): a receipt lands
# within the live budget plus one batch.
RECEIPT_S = (LIVE_MS + 2000) / 1000


def receipts(notification):
    row = Notification.objects.values("delivered_at", "seen_at", "clicked_at").get(pk=notification.pk)
    return row["delivered_at"], row["seen_at"], row["clicked_at"]


def publish(notification):
    publishing.publish_notifications(Notification.objects.filter(pk=notification.pk))


def alert(recipient, title):
    return NotificationFactory(
        recipient=recipient, notification_type="system_alert", priority="urgent", title=title, action_url="/notifications/"
    )


def set_visibility(page, state: str) -> None:
    """What the browser does when a tab goes to the background or comes back (Page Visibility API)."""
    page.evaluate(
        """state => {
            Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
            Object.defineProperty(document, "hidden", { configurable: true, get: () => state === "hidden" });
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def test_a_toast_on_a_visible_page_is_delivered_and_seen_and_its_click_recorded(live_server_url, people, publish_through_redis):
    client = ClientFactory()
    anna = people(live_server_url, client)
    page = anna.goto_live("/jobs/mine/")
    note = alert(client, "Scheduled maintenance tonight")

    publish(note)
    expect(toast(page, "Scheduled maintenance tonight")).to_be_visible(timeout=LIVE_MS)

    wait_for(lambda: all(receipts(note)[:2]), timeout=RECEIPT_S, what="delivered_at and seen_at")
    assert receipts(note)[2] is None
    toast(page, "Scheduled maintenance tonight").click()
    page.wait_for_url("**/notifications/")
    wait_for(lambda: receipts(note)[2] is not None, timeout=RECEIPT_S, what="clicked_at")
    delivered_at, seen_at, clicked_at = receipts(note)
    assert delivered_at <= seen_at <= clicked_at
    assert anna.errors == []


def test_a_lone_notification_is_acked_at_once_with_delivered_and_seen_in_one_request(live_server_url, people, publish_through_redis):
    # The commit-to-delivered histogram measures the frame, not the page's one-second batch.
    client = ClientFactory()
    anna = people(live_server_url, client)
    page = anna.goto_live("/jobs/mine/")
    page.evaluate(
        """() => {
            window.__acks = [];
            Live.stream.on("notification", () => { window.__frameAt = performance.now(); });
            const original = window.fetch;
            window.fetch = (url, options) => {
                if ([Live.catalog.urls.receipts, Live.catalog.urls.receipts_door].includes(String(url))) window.__acks.push({url: String(url), at: performance.now(), body: JSON.parse(options.body)});
                return original(url, options);
            };
        }"""
    )
    note = alert(client, "Just one")

    publish(note)
    expect(toast(page, "Just one")).to_be_visible(timeout=LIVE_MS)
    wait_for(lambda: all(receipts(note)[:2]), timeout=RECEIPT_S, what="delivered_at and seen_at")

    acks = page.evaluate("() => window.__acks")
    frame_at = page.evaluate("() => window.__frameAt")
    assert [(ack["url"], ack["body"]) for ack in acks] == [("/receipts/", {"delivered": [note.pk], "seen": [note.pk]})]
    assert acks[0]["at"] - frame_at < 500  # a batch would wait a second
    assert anna.errors == []


def test_a_page_whose_receipt_token_is_refused_acks_through_the_api(live_server_url, people, publish_through_redis):
    client = ClientFactory()
    anna = people(live_server_url, client)
    page = anna.goto_live("/jobs/mine/")
    page.evaluate("() => { Live.catalog.receipt_token = 'expired:or:forged'; }")
    note = alert(client, "Token refused")

    publish(note)
    expect(toast(page, "Token refused")).to_be_visible(timeout=LIVE_MS)

    wait_for(lambda: all(receipts(note)[:2]), timeout=RECEIPT_S, what="delivered_at and seen_at through the API")
    assert anna.errors == []


def test_a_background_tab_delivers_and_marks_seen_only_once_visible(live_server_url, people, publish_through_redis):
    client = ClientFactory()
    anna = people(live_server_url, client)
    page = anna.goto_live("/jobs/mine/")
    set_visibility(page, "hidden")
    note = alert(client, "Arrived while away")

    publish(note)
    wait_for(lambda: receipts(note)[0] is not None, timeout=RECEIPT_S, what="delivered_at")
    page.wait_for_timeout(1500)  # one more batch: nothing may mark it seen while hidden
    assert receipts(note)[1:] == (None, None)

    set_visibility(page, "visible")
    wait_for(lambda: receipts(note)[1] is not None, timeout=RECEIPT_S, what="seen_at")
    assert receipts(note)[2] is None
    assert anna.errors == []


def test_a_frame_replayed_after_a_reconnect_is_delivered(live_server_url, people, publish_through_redis):
    client = ClientFactory()
    anna = people(live_server_url, client)
    page = anna.goto_live("/jobs/mine/")
    anna.context.set_offline(True)
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    missed = alert(client, "Sent while offline")
    publish(missed)  # to nobody: the page is away

    page.wait_for_timeout(1200)
    assert receipts(missed) == (None, None, None)
    anna.context.set_offline(False)
    expect(page.locator(f'#bell-list [data-notification-id="{missed.pk}"]')).to_have_count(1, timeout=10_000)

    wait_for(lambda: receipts(missed)[0] is not None, timeout=RECEIPT_S, what="delivered_at of the replayed frame")
    assert anna.errors == []


def test_another_users_page_acks_change_nothing_for_my_notifications(live_server_url, people):
    client, other = ClientFactory(), ClientFactory()
    mine = alert(client, "Mine")
    page = people(live_server_url, other).goto_live("/jobs/mine/")

    status = page.evaluate(
        """id => fetch(Live.catalog.urls.receipts, {
            method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json", "X-CSRFToken": Live.csrfToken()},
            body: JSON.stringify({delivered: [id], seen: [id], clicked: [id]})
        }).then(r => r.status)""",
        mine.pk,
    )

    assert status == 200
    assert receipts(mine) == (None, None, None)


def test_opening_the_bell_dropdown_or_the_list_marks_what_it_shows_seen(live_server_url, people):
    client = ClientFactory()
    in_bell, in_list = alert(client, "In the bell"), alert(client, "Older, on the list")
    anna = people(live_server_url, client)
    page = anna.goto_live("/jobs/mine/")
    page.wait_for_timeout(1200)
    assert receipts(in_bell)[1] is None  # rendered in the closed dropdown: not seen yet

    page.click("#bell")
    wait_for(lambda: receipts(in_bell)[1] is not None and receipts(in_list)[1] is not None, timeout=RECEIPT_S, what="seen_at")
    Notification.objects.filter(pk=in_list.pk).update(seen_at=None, delivered_at=None)

    anna.goto_live("/notifications/")
    wait_for(lambda: receipts(in_list)[1] is not None, timeout=RECEIPT_S, what="seen_at from the list page")
    assert receipts(in_list)[0] is not None  # seen implies delivered
    assert anna.errors == []


def test_the_operator_sees_an_events_funnel_and_a_cleaner_sees_why_an_offer_reached_them(worker, live_server_url, people):
    """A real fan-out, acked by the cleaners' open pages, then read where support and the cleaner read it."""
    from jobs.models import CleaningJob
    from notifications.models import OutboxEvent

    from .conftest import screenshot
    from .helpers import post_job

    client = ClientFactory(first_name="Anna", last_name="de Vries")
    cleaners = [CleanerFactory(first_name=name) for name in ("Ben", "Cleo", "Dana")]
    watching = [people(live_server_url, cleaner) for cleaner in cleaners[:2]]  # Dana has no page open
    for person in watching:
        person.goto_live("/board/")
    anna = people(live_server_url, client)

    job_id = post_job(anna.page, title="Spring clean of a 2-bedroom flat", service="deep", budget="140")
    for person in watching:
        expect(toast(person.page, "New Deep cleaning job in Amsterdam")).to_be_visible(timeout=LIVE_MS)
    event = OutboxEvent.objects.get(event_type="job_created", payload__job_id=job_id)
    offers = Notification.objects.filter(event=event)
    wait_for(lambda: offers.filter(seen_at__isnull=False).count() == 2, timeout=RECEIPT_S, what="two offers seen")

    staff = ClientFactory(is_staff=True, is_superuser=True)
    operator = people(live_server_url, staff)
    operator.page.goto(f"/admin/notifications/outboxevent/{event.pk}/change/")
    funnel = operator.page.locator(".outbox-funnel")
    expect(funnel.locator("th")).to_have_text(["recipients", "stored", "published", "delivered", "seen", "read", "clicked"])
    expect(funnel.locator("td")).to_have_text(["3", "3", "3", "2", "2", "0", "0"])
    expect(operator.page.locator(".field-commit_to_delivered")).to_contain_text("p50")
    screenshot(operator.page, "admin-outbox-funnel-laptop", full_page=True)

    ben = watching[0]
    ben.goto_live("/notifications/")
    expect(ben.page.locator(".notif-reason").first).to_contain_text("km from you, within your")
    screenshot(ben.page, "notifications-why-laptop")
    ben.goto_live(f"/jobs/{job_id}/")
    expect(ben.page.locator(".offer-reason")).to_contain_text("you offer Deep cleaning")
    assert CleaningJob.objects.filter(pk=job_id).exists()
