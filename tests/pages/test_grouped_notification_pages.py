"""Groups on the pages: one entry in the bell and the list, expandable to its members, and a form to mark it read."""

import re
from decimal import Decimal

import pytest

from notifications.catalog import NotificationType
from notifications.models import Notification
from tests.factories import CleaningJobFactory, ClientFactory
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bids(client_user):
    """Three bids on one job, as the fan-out stores them (the key and the amount), and one alert."""
    job = CleaningJobFactory(client=client_user, title="Spring clean")
    key = f"bids:job:{job.pk}"
    notes = [
        NotificationFactory(
            recipient=client_user, title="New bid on Spring clean", message=f"{name} offers €{amount}.00.",
            group_key=key, job=job, metadata={"job_id": job.pk, "amount": str(Decimal(amount))},
        )
        for name, amount in (("Ben", 95), ("Cleo", 120), ("Dev", 100))
    ]
    alert = NotificationFactory(recipient=client_user, notification_type=NotificationType.SYSTEM_ALERT, title="Maintenance")
    return key, notes, alert


def entry(body: str, key: str) -> str:
    match = re.search(rf'<li class="[^"]*" data-group-key="{re.escape(key)}".*?</details>', body, re.S)
    assert match, f"no entry for {key}"
    return match.group(0)


def test_the_bell_shows_a_group_as_one_entry_with_its_members_inside(as_client, bids):
    key, notes, alert = bids
    body = as_client.get("/jobs/mine/").content.decode()
    bell = body[body.index('id="bell-list"'): body.index('id="bell-empty"')]

    group = entry(bell, key)
    assert "3 new bids on Spring clean, from €95.00 to €120.00" in group
    assert "<details" in group and "Show all 3" in group
    # Its members' rows load when opened (or through the link); their ids are there for the page script.
    assert "data-notification-id" not in group and f"?group={key.replace(':', '%3A')}" in group
    assert re.search(r'data-member-ids="([\d,]+)"', group).group(1) == ",".join(str(n.pk) for n in reversed(notes))
    assert bell.count('data-group-key=') == 1
    assert f'data-notification-id="{alert.pk}"' in bell
    # The badge counts notifications, not groups.
    assert 'data-unread="4"' in body


def test_the_list_is_grouped_by_default_and_flat_on_request(as_client, bids):
    key, notes, alert = bids
    grouped = as_client.get("/notifications/")
    assert [g.count for g in grouped.context["page"].object_list] == [1, 3]
    assert "3 new bids on Spring clean, from €95.00 to €120.00" in entry(grouped.content.decode(), key)

    flat = as_client.get("/notifications/?layout=flat")
    assert [n.pk for n in flat.context["page"].object_list] == [alert.pk, *[n.pk for n in reversed(notes)]]
    one_group = as_client.get("/notifications/", {"group": key})
    assert [n.pk for n in one_group.context["page"].object_list] == [n.pk for n in reversed(notes)]


def test_the_mark_these_read_form_marks_the_group_and_nothing_else(as_client, client_user, bids):
    key, notes, alert = bids
    response = as_client.post(f"/notifications/groups/{key}/read/", {"next": "/notifications/"})

    assert response.status_code == 302 and response["Location"] == "/notifications/"
    assert not Notification.objects.filter(pk__in=[n.pk for n in notes], is_read=False).exists()
    assert not Notification.objects.get(pk=alert.pk).is_read
    page = as_client.get("/notifications/").content.decode()
    assert "3 bids on Spring clean, from €95.00 to €120.00" in page
    assert "Marked 3 notifications as read." in page


def test_someone_elses_group_is_a_404_and_changes_nothing(login, bids):
    key, notes, _ = bids
    response = login(ClientFactory()).post(f"/notifications/groups/{key}/read/")
    assert response.status_code == 404
    assert not Notification.objects.filter(pk__in=[n.pk for n in notes], is_read=True).exists()
