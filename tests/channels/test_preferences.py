"""Preferences per type and channel: the page's grid and the API, with the catalog's defaults and bad input refused."""

import re

import pytest
from django.test import Client

from notifications.catalog import NotificationType
from notifications.models import JobOfferPushCap, NotificationChannelPreference, NotificationPreference
from tests.factories import PASSWORD, CleanerFactory, ClientFactory

pytestmark = pytest.mark.django_db
URL = "/api/notifications/preferences/"


@pytest.fixture
def user():
    return ClientFactory()


@pytest.fixture
def api(api_as, user):
    return api_as(user)


@pytest.fixture
def page(user):
    browser = Client()
    assert browser.login(username=user.username, password=PASSWORD)
    return browser


def checked(html, name):
    return bool(re.search(rf'<input[^>]*name="{name}"[^>]*checked', html))


def test_the_page_shows_a_grid_of_types_by_channel_with_the_catalog_defaults(page):
    html = page.get("/notifications/preferences/").content.decode()
    assert re.search(r"<th[^>]*>In-app</th>\s*<th[^>]*>Email</th>\s*<th[^>]*>Push</th>", html)
    row = re.search(r'<tr class="pref[^"]*" data-type="bid_received">.*?</tr>', html, re.S).group(0)
    assert checked(row, "bid_received") and checked(row, "bid_received__email") and checked(row, "bid_received__push")
    offer = re.search(r'<tr class="pref[^"]*" data-type="job_created">.*?</tr>', html, re.S).group(0)
    assert "job_created__email" not in offer and checked(offer, "job_created__push")
    alert = re.search(r'<tr class="pref[^"]*" data-type="system_alert">.*?</tr>', html, re.S).group(0)
    assert re.search(r'name="system_alert"[^>]*disabled', alert) and "__email" not in alert and "__push" not in alert


def test_the_page_saves_a_channel_off_and_shows_it(page, user):
    everything = {value: "on" for value in NotificationType.values}
    everything |= {f"{t}__{c}": "on" for t in ("bid_received", "message_received") for c in ("email", "push")}
    del everything["bid_received__email"]

    response = page.post("/notifications/preferences/", everything)

    assert response.status_code == 302
    off = set(NotificationChannelPreference.objects.filter(user=user, is_enabled=False).values_list("notification_type", "channel"))
    assert ("bid_received", "email") in off and ("bid_received", "push") not in off
    assert not NotificationPreference.objects.filter(user=user, is_muted=True).exists()
    html = page.get("/notifications/preferences/").content.decode()
    assert not checked(html, "bid_received__email") and checked(html, "bid_received__push")


def test_the_api_returns_and_accepts_channels_and_keeps_the_old_muted_shape(api, user):
    body = api.get(URL).json()
    assert body["channels"]["bid_received"] == {"push": True, "email": True}
    assert body["channels"]["job_created"] == {"push": True}
    assert body["channels"]["system_alert"] == {}
    assert body["muted"]["bid_received"] is False

    response = api.put(URL, {"channels": {"bid_received": {"email": False}}}, format="json")
    assert response.status_code == 200
    assert response.json()["channels"]["bid_received"] == {"push": True, "email": False}

    old_client = api.put(URL, {"muted": {"reminder": True}}, format="json")
    assert old_client.status_code == 200
    assert old_client.json()["muted"]["reminder"] is True
    assert old_client.json()["channels"]["bid_received"]["email"] is False


@pytest.mark.parametrize(
    "body, message",
    [
        ({"channels": {"no_such_type": {"email": False}}}, "Unknown notification type: no_such_type."),
        ({"channels": {"job_created": {"email": False}}}, "job_created has no email channel (it has push)."),
        ({"channels": {"system_alert": {"push": True}}}, "system_alert has no push channel (it has no email or push)."),
        ({"channels": {"bid_received": {"email": "no"}}}, "Must be true or false."),
        ({"channels": {"bid_received": ["email"]}}, "Expected a dictionary"),
        ({"channels": ["bid_received"]}, "Expected a dictionary"),
        ({"muted": {"reminder": True}, "channels": {"bid_received": {"sms": True}}}, "bid_received has no sms channel"),
        ({"muted": {"system_alert": True}, "channels": {"bid_received": {"email": False}}}, "These cannot be muted"),
    ],
)
def test_bad_channel_input_is_a_400_and_changes_nothing(api, user, body, message):
    response = api.put(URL, body, format="json")
    assert response.status_code == 400
    assert message in str(response.json())
    assert not NotificationChannelPreference.objects.filter(user=user).exists()
    assert not NotificationPreference.objects.filter(user=user).exists()


# --- the job offer push cap: one rule (0 to 60, blank for the default) for the API and the page ---------


def test_the_api_reads_and_sets_the_job_offer_push_cap(api, user, settings):
    settings.JOB_OFFER_PUSHES_PER_HOUR = 4
    body = api.get(URL).json()
    assert (body["job_offer_pushes_per_hour"], body["job_offer_pushes_per_hour_default"]) == (None, 4)

    response = api.put(URL, {"job_offer_pushes_per_hour": 9}, format="json")
    assert response.status_code == 200
    assert response.json()["job_offer_pushes_per_hour"] == 9
    assert JobOfferPushCap.objects.get(user=user).per_hour == 9

    # Other settings alone leave it as it is; null goes back to the default.
    api.put(URL, {"muted": {"reminder": True}}, format="json")
    assert JobOfferPushCap.objects.get(user=user).per_hour == 9
    assert api.put(URL, {"job_offer_pushes_per_hour": None}, format="json").json()["job_offer_pushes_per_hour"] is None
    assert not JobOfferPushCap.objects.exists()


CAP_MESSAGE = "Job offer pushes per hour must be a whole number from 0 to 60, or empty for the default."


@pytest.mark.parametrize("value", [-1, 61, 1000])
def test_an_out_of_range_cap_is_a_400_and_changes_nothing_with_it(api, user, value):
    response = api.put(URL, {"job_offer_pushes_per_hour": value, "muted": {"reminder": True}}, format="json")
    assert response.status_code == 400
    assert CAP_MESSAGE in str(response.json())
    assert not JobOfferPushCap.objects.exists()
    assert not NotificationPreference.objects.filter(user=user).exists()


def test_a_non_number_cap_is_a_400(api):
    response = api.put(URL, {"job_offer_pushes_per_hour": "many"}, format="json")
    assert response.status_code == 400
    assert not JobOfferPushCap.objects.exists()


def grid_post(**extra) -> dict:
    """What the page posts when nothing else is changed: every switch as the defaults have it."""
    fields = {value: "on" for value in NotificationType.values}
    fields |= {f"{value}__{channel}": "on" for value, channels in _channels().items() for channel in channels}
    return fields | extra


def _channels():
    from notifications.channels.policy import channels_available

    return {value: channels_available(value) for value in NotificationType.values}


def test_a_client_gets_no_job_offers_and_sees_no_cap(page):
    assert 'name="job_offer_pushes_per_hour"' not in page.get("/notifications/preferences/").content.decode()


def test_the_page_sets_the_cap_and_refuses_out_of_range_with_the_same_words():
    user = CleanerFactory()
    page = Client()
    assert page.login(username=user.username, password=PASSWORD)
    html = page.get("/notifications/preferences/").content.decode()
    assert 'name="job_offer_pushes_per_hour"' in html

    saved = page.post("/notifications/preferences/", grid_post(job_offer_pushes_per_hour="2"))
    assert saved.status_code == 302
    assert JobOfferPushCap.objects.get(user=user).per_hour == 2
    assert 'value="2"' in page.get("/notifications/preferences/").content.decode()

    refused = page.post("/notifications/preferences/", grid_post(job_offer_pushes_per_hour="61"))
    assert refused.status_code == 400
    assert CAP_MESSAGE in refused.content.decode()
    assert JobOfferPushCap.objects.get(user=user).per_hour == 2

    page.post("/notifications/preferences/", grid_post(job_offer_pushes_per_hour=""))
    assert not JobOfferPushCap.objects.exists()
