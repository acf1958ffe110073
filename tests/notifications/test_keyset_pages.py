"""Keyset pagination of the list (API `?before=`, page `?before=`/`?after=`): every row once, while new ones arrive."""

import pytest
from django.test import Client
from django.urls import reverse

from notifications.catalog import NotificationType
from tests.factories import UserFactory
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("notifications-api:list")


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def client(api_as, user):
    return api_as(user)


def test_walking_older_pages_sees_every_row_once_while_new_ones_arrive(client, user):
    existing = [n.pk for n in NotificationFactory.create_batch(47, recipient=user)]
    NotificationFactory.create_batch(5, recipient=UserFactory())  # someone else's: never shown
    seen, url, pages = [], LIST_URL, 0
    while url:
        body = client.get(url).json()
        seen += [item["id"] for item in body["results"]]
        NotificationFactory.create_batch(3, recipient=user)  # arrive between page loads: they belong on page 1
        url, pages = body["next"], pages + 1
        assert body["next_before"] == (seen[-1] if url else None)
    assert pages == 3
    assert seen == sorted(existing, reverse=True)  # no duplicate, no gap, latest first


def test_an_old_page_number_link_still_works_and_offers_the_keyset_cursor(client, user):
    rows = NotificationFactory.create_batch(25, recipient=user)
    first = client.get(LIST_URL).json()
    assert (first["count"], len(first["results"]), first["next_before"]) == (25, 20, rows[5].pk)
    assert first["next"].endswith(f"?before={rows[5].pk}")
    second = client.get(LIST_URL, {"page": 2}).json()
    assert [item["id"] for item in second["results"]] == [n.pk for n in reversed(rows[:5])]
    by_cursor = client.get(LIST_URL, {"before": first["next_before"]}).json()
    assert by_cursor["results"] == second["results"]
    assert (by_cursor["next"], by_cursor["next_before"]) == (None, None)


def test_the_cursor_keeps_the_filters(client, user):
    for i in range(50):
        NotificationFactory(recipient=user, is_read=i % 2 == 0, notification_type=NotificationType.BID_RECEIVED)
    first = client.get(LIST_URL, {"unread": "true"}).json()
    assert "unread=true" in first["next"] and "before=" in first["next"]
    rest = client.get(first["next"]).json()
    assert all(not item["is_read"] for item in first["results"] + rest["results"])
    assert (len(first["results"]), len(rest["results"])) == (20, 5)


@pytest.mark.parametrize("before", ["abc", "0", "-3", "1.5", str(2**63)])
def test_a_bad_cursor_is_a_400_field_error(client, user, before):
    response = client.get(LIST_URL, {"before": before})
    assert response.status_code == 400
    assert "before" in response.json()["errors"]


def test_the_list_page_goes_older_and_back_newer(user):
    # One by one (layout=flat) pages by keyset; the grouped layout pages its entries by number.
    rows = NotificationFactory.create_batch(45, recipient=user)
    browser = Client()
    browser.force_login(user)
    first = browser.get("/notifications/?layout=flat").context["page"]
    assert [n.pk for n in first.object_list] == [n.pk for n in reversed(rows[25:])]
    assert (first.newer_than, first.older_than) == (None, rows[25].pk)
    second = browser.get(f"/notifications/?layout=flat&before={first.older_than}").context["page"]
    third = browser.get(f"/notifications/?layout=flat&before={second.older_than}").context["page"]
    assert [n.pk for n in third.object_list] == [n.pk for n in reversed(rows[:5])]
    assert third.older_than is None
    back = browser.get(f"/notifications/?layout=flat&after={third.newer_than}").context["page"]
    assert [n.pk for n in back.object_list] == [n.pk for n in second.object_list]
    assert browser.get("/notifications/?layout=flat&before=nonsense").context["page"].object_list == first.object_list


def test_the_grouped_listing_pages_by_number_and_refuses_a_keyset_cursor(client, user):
    for job in range(25):
        NotificationFactory(recipient=user, notification_type=NotificationType.BID_RECEIVED, group_key=f"bids:job:{job}")

    first = client.get(f"{LIST_URL}?grouped=true").json()
    second = client.get(first["next"]).json()
    refused = client.get(f"{LIST_URL}?grouped=true&before=5")

    assert (len(first["results"]), first["count"], first["next_before"]) == (20, 25, None)
    assert "page=2" in first["next"] and "before" not in first["next"]
    assert len(second["results"]) == 5
    assert refused.status_code == 400
    assert "before" in refused.json()["errors"]
