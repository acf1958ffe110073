"""Notification pages: the bell on every page, the full list, read state and preferences."""

import re

import pytest

from notifications.catalog import NotificationType
from notifications.models import Notification, NotificationPreference
from tests.factories import ClientFactory
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db


def bell_badge(body: str) -> str:
    return re.search(r'id="bell-badge"[^>]*>([^<]*)<', body).group(1)


def test_the_bell_shows_the_unread_count_and_latest(as_client, client_user):
    older = NotificationFactory(recipient=client_user, title="Older one", is_read=True)
    newest = [NotificationFactory(recipient=client_user, title=f"Fresh {i}") for i in range(9)]
    NotificationFactory(title="Not mine")
    body = as_client.get("/jobs/mine/").content.decode()
    assert bell_badge(body) == "9"
    # The stream starts at the user's delivery seq (10 notifications so far), not at a notification id.
    assert f'data-last-event-id="{newest[-1].seq}"' in body and newest[-1].seq == 10
    assert "Fresh 8" in body and "Fresh 1" in body and "Not mine" not in body
    # Eight latest only in the dropdown.
    assert "Fresh 0" not in body and older.title not in body


def test_badge_caps_at_99_plus(as_client, client_user):
    Notification.objects.bulk_create(
        Notification(recipient=client_user, notification_type="system_alert", title=f"n{i}") for i in range(120)
    )
    body = as_client.get("/jobs/mine/").content.decode()
    assert bell_badge(body) == "99+"
    assert 'data-unread="120"' in body


def test_no_notifications_starts_the_stream_at_the_users_seq_or_zero(as_client, client_user):
    body = as_client.get("/jobs/mine/").content.decode()
    assert 'data-last-event-id="0"' in body
    assert re.search(r'id="bell-badge" hidden', body)
    expired = NotificationFactory(recipient=client_user)
    Notification.objects.filter(pk=expired.pk).update(expired_at="2020-01-01T00:00:00Z")
    body = as_client.get("/jobs/mine/").content.decode()
    assert 'data-last-event-id="1"' in body


def test_a_notification_stored_while_the_bell_renders_is_shown_or_replayed_never_lost(client_user, monkeypatch):
    """The seq is read before the latest notifications, whatever order a template asks for them in."""
    from notifications import sequencing
    from notifications.context_processors import LiveNotifications

    real, stored = sequencing.seq_current, []

    def seq_current_racing_a_commit(*, user_id):
        # Another worker commits a notification for this user just before the seq is read.
        stored.append(NotificationFactory(recipient=client_user, title="Committed mid-render"))
        return real(user_id=user_id)

    monkeypatch.setattr(sequencing, "seq_current", seq_current_racing_a_commit)
    live = LiveNotifications(client_user)
    titles = [n.title for n in live.latest]  # the list first: the worst order for a template
    start = live.last_event_id

    assert len(stored) == 1
    # Committed before the seq was read, so the stream starts after it: it must be in the list.
    assert (titles, start) == (["Committed mid-render"], 1)


def test_notification_text_is_escaped_everywhere(as_client, client_user):
    NotificationFactory(recipient=client_user, title="<img src=x onerror=alert(1)>", message="<b>bold</b>")
    for url in ("/jobs/mine/", "/notifications/"):
        body = as_client.get(url).content.decode()
        assert "<img src=x" not in body and "<b>bold</b>" not in body
        assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_list_paginates_and_filters(as_client, client_user):
    for i in range(25):
        NotificationFactory(recipient=client_user, title=f"Bid note {i}", notification_type=NotificationType.BID_RECEIVED)
    NotificationFactory(recipient=client_user, title="A message", notification_type=NotificationType.MESSAGE_RECEIVED, is_read=True)

    # One by one, keyset pages: ?before= (older) and ?after= (newer).
    first = as_client.get("/notifications/?layout=flat")
    assert first.status_code == 200
    assert len(first.context["page"].object_list) == 20
    older = first.context["page"].older_than
    assert f'href="?layout=flat&amp;before={older}"' in first.content.decode()
    second = as_client.get(f"/notifications/?layout=flat&before={older}")
    assert len(second.context["page"].object_list) == 6
    assert second.context["page"].older_than is None
    assert f'href="?layout=flat&amp;after={second.context["page"].newer_than}"' in second.content.decode()

    unread = as_client.get("/notifications/?state=unread&layout=flat")
    assert len(unread.context["page"].object_list) == 20
    read = as_client.get("/notifications/?state=read")
    assert [g.latest.title for g in read.context["page"].object_list] == ["A message"]  # grouped by default; no key: one each
    typed = as_client.get("/notifications/?type=message_received&layout=flat")
    assert [n.title for n in typed.context["page"].object_list] == ["A message"]
    assert f'href="?state=unread&amp;layout=flat&amp;before={unread.context["page"].older_than}"' in unread.content.decode()
    last_unread = as_client.get(f"/notifications/?state=unread&layout=flat&before={unread.context['page'].older_than}")
    assert {n.title for n in last_unread.context["page"].object_list} == {f"Bid note {i}" for i in range(5)}

    # Grouped (the default), the entries page by number.
    grouped = as_client.get("/notifications/")
    assert len(grouped.context["page"].object_list) == 20
    assert 'href="?page=2"' in grouped.content.decode()
    assert len(as_client.get("/notifications/?page=2").context["page"].object_list) == 6


def test_a_bad_filter_is_a_form_error_not_a_500(as_client):
    response = as_client.get("/notifications/?type=nonsense&state=maybe")
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_mark_one_read(as_client, client_user):
    note = NotificationFactory(recipient=client_user)
    response = as_client.post(f"/notifications/{note.pk}/read/", {"next": "/notifications/?state=unread"})
    assert response.status_code == 302 and response["Location"] == "/notifications/?state=unread"
    note.refresh_from_db()
    assert note.is_read and note.read_at is not None
    assert as_client.get(f"/notifications/{note.pk}/read/").status_code == 405


def test_someone_elses_notification_is_404(as_client):
    other = NotificationFactory(recipient=ClientFactory())
    assert as_client.post(f"/notifications/{other.pk}/read/").status_code == 404
    assert as_client.post(f"/notifications/{other.pk}/open/").status_code == 404
    other.refresh_from_db()
    assert not other.is_read


def test_open_marks_read_and_goes_to_the_action_url(as_client, client_user):
    note = NotificationFactory(recipient=client_user, action_url="/jobs/42/#messages")
    response = as_client.post(f"/notifications/{note.pk}/open/")
    assert response["Location"] == "/jobs/42/#messages"
    note.refresh_from_db()
    assert note.is_read


@pytest.mark.parametrize("url", ["//evil.example/", "https://evil.example/", "javascript:alert(1)", ""])
def test_open_never_leaves_the_site(as_client, client_user, url):
    note = NotificationFactory(recipient=client_user, action_url=url)
    assert as_client.post(f"/notifications/{note.pk}/open/")["Location"] == "/notifications/"


def test_mark_all_read(as_client, client_user):
    NotificationFactory.create_batch(3, recipient=client_user)
    mine_other = NotificationFactory()
    response = as_client.post("/notifications/read-all/", {"next": "/jobs/mine/"}, follow=True)
    assert response.redirect_chain[0][0] == "/jobs/mine/"
    assert "Marked 3 notifications as read." in response.content.decode()
    assert not Notification.objects.filter(recipient=client_user, is_read=False).exists()
    mine_other.refresh_from_db()
    assert not mine_other.is_read
    again = as_client.post("/notifications/read-all/", follow=True)
    assert "Nothing was unread." in again.content.decode()


def test_preferences_page_lists_every_type(as_client):
    response = as_client.get("/notifications/preferences/")
    body = response.content.decode()
    assert response.status_code == 200
    for value in NotificationType.values:
        assert f'name="{value}"' in body
    # system_alert is always on and cannot be changed.
    assert re.search(r'name="system_alert"[^>]*disabled', body) or re.search(r'disabled[^>]*name="system_alert"', body)


def test_muting_and_unmuting(as_client, client_user):
    everything_but_bids = {value: "on" for value in NotificationType.values if value != "bid_received"}
    response = as_client.post("/notifications/preferences/", everything_but_bids)
    assert response.status_code == 302
    assert NotificationPreference.objects.get(user=client_user, notification_type="bid_received").is_muted
    page = as_client.get("/notifications/preferences/").content.decode()
    assert not re.search(r'<input[^>]*name="bid_received"[^>]*checked', page)

    as_client.post("/notifications/preferences/", {value: "on" for value in NotificationType.values})
    assert not NotificationPreference.objects.get(user=client_user, notification_type="bid_received").is_muted


def test_system_alert_cannot_be_muted_even_by_a_crafted_post(as_client, client_user):
    # Unchecking everything (nothing posted) mutes every mutable type but not announcements.
    response = as_client.post("/notifications/preferences/", {})
    assert response.status_code == 302
    muted = set(NotificationPreference.objects.filter(user=client_user, is_muted=True).values_list("notification_type", flat=True))
    assert muted == set(NotificationType.values) - {"system_alert"}


def test_a_refused_preference_update_is_a_form_error(as_client, monkeypatch):
    from project.exceptions import InvalidInput
    from notifications import services

    def refuse(**kwargs):
        raise InvalidInput("These cannot be muted: system_alert.", field="muted")

    monkeypatch.setattr(services, "notification_preferences_update", refuse)
    response = as_client.post("/notifications/preferences/", {})
    assert response.status_code == 400
    assert "These cannot be muted" in response.content.decode()
