"""The catalog's facts handed to the page scripts in one JSON blob, and each page's own assets."""

import json
import re

import pytest
from django.test import Client
from django.urls import resolve

from notifications.catalog import NotificationType

pytestmark = pytest.mark.django_db

BLOB = re.compile(r'<script id="notification-catalog" type="application/json">(.*?)</script>', re.S)


def catalog_on(body: str) -> dict:
    blobs = BLOB.findall(body)
    assert len(blobs) == 1, body[:2000]
    return json.loads(blobs[0])


def test_a_signed_in_page_carries_the_catalog_the_scripts_read(as_cleaner):
    catalog = catalog_on(as_cleaner.get("/board/").content.decode())

    assert catalog["priorities"] == ["low", "medium", "high", "urgent"]
    assert catalog["default_priority"] == "medium"
    assert sorted(catalog["types"]) == sorted(NotificationType.values)
    assert catalog["types"]["system_alert"] == {"label": "Announcement", "priority": "urgent", "icon": "system_alert"}
    assert catalog["refreshes"]["board"] == ["job_created", "job_cancelled", "bid_accepted", "bid_rejected"]
    assert catalog["refreshes"]["job_messages"] == ["message_received"]
    assert "bid_received" not in catalog["refreshes"]["job_status"] and len(catalog["refreshes"]["job_status"]) == 10
    assert "message_received" not in catalog["refreshes"]["job_bids"] and len(catalog["refreshes"]["job_bids"]) == 11
    assert catalog["bid_states"] == {
        "bid_accepted": {"status": "accepted", "label": "Accepted"},
        "bid_rejected": {"status": "rejected", "label": "Rejected"},
    }


def test_the_catalog_urls_are_the_live_routes(as_client):
    urls = catalog_on(as_client.get("/jobs/mine/").content.decode())["urls"]

    assert urls["events"] == "/events/"  # project/asgi.py routes it, outside the URLconf
    assert resolve(urls["notifications"]).url_name == "list"
    assert resolve(urls["unread_count"]).url_name == "unread-count"
    assert resolve(urls["read_all"]).url_name == "read-all"
    assert urls["read"] == "/api/notifications/{id}/read/"
    assert resolve(urls["read"].replace("{id}", "7")).kwargs == {"notification_id": 7}
    for name, url_name in (("group", "group"), ("group_read", "group-read"), ("group_read_form", "group-read")):
        match = resolve(urls[name].replace("{key}", "bids:job:7"))
        assert (match.url_name, match.kwargs) == (url_name, {"group_key": "bids:job:7"})
    assert resolve(urls["fallback"]).view_name == "notifications:list"
    assert as_client.get(urls["unread_count"], HTTP_ACCEPT="application/json").json() == {"count": 0}


def test_anonymous_pages_have_no_catalog_and_no_live_scripts():
    body = Client().get("/login/").content.decode()
    assert "notification-catalog" not in body
    assert "stream.js" not in body and "bell.js" not in body
    assert "/static/site.css" in body


def test_each_page_loads_the_site_assets_then_its_own(as_cleaner, as_client):
    board = as_cleaner.get("/board/").content.decode()
    scripts = re.findall(r'<script src="/static/([^"]+)" defer>', board)
    assert scripts == ["live.js", "stream.js", "notifications/bell.js", "jobs/live-jobs.js"]
    assert re.findall(r'<link rel="stylesheet" href="/static/([^"]+)">', board) == ["site.css", "jobs/jobs.css"]

    notifications = as_client.get("/notifications/").content.decode()
    assert re.findall(r'<script src="/static/([^"]+)" defer>', notifications)[-1] == "notifications/list.js"
    assert "notifications/notifications.css" in notifications and "jobs/jobs.css" not in notifications


def test_the_current_page_is_marked_in_the_nav(as_cleaner):
    body = as_cleaner.get("/bids/mine/").content.decode()
    assert re.findall(r'<a href="([^"]+)" aria-current="page">', body) == ["/bids/mine/"]
