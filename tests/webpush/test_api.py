"""POST/DELETE/GET /api/push/subscriptions/: a browser's subscription stored for its user, and every bad input refused."""

import base64
import json

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from devtools.push_service import BrowserSubscription
from tests.factories import UserFactory
from webpush.models import PushSubscription

pytestmark = pytest.mark.django_db

URL = reverse("webpush-api:subscriptions")
FCM = "https://fcm.googleapis.com/fcm/send/"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def browser(name: str = "abc") -> BrowserSubscription:
    return BrowserSubscription(FCM + name)


def post(client, body) -> "Response":  # noqa: F821
    return client.post(URL, body, format="json", HTTP_USER_AGENT="Mozilla/5.0 Chromium")


def stored() -> list[tuple[str, int]]:
    return list(PushSubscription.objects.order_by("id").values_list("endpoint", "user_id"))


def test_a_browser_subscribes_and_the_user_sees_it_listed(api_as, vapid_keys):
    user = UserFactory()
    client = api_as(user)
    sub = browser()

    response = post(client, sub.as_json())

    assert response.status_code == 201, response.json()
    row = PushSubscription.objects.get()
    assert (row.user, row.endpoint, row.p256dh, row.auth) == (user, sub.endpoint, sub.p256dh, sub.auth)
    assert row.user_agent == "Mozilla/5.0 Chromium"
    listed = client.get(URL).json()
    assert listed["enabled"] is True and listed["public_key"] == vapid_keys[0]
    assert [s["endpoint"] for s in listed["subscriptions"]] == [sub.endpoint]
    assert "p256dh" not in listed["subscriptions"][0] and "auth" not in listed["subscriptions"][0]


def test_subscribing_again_is_idempotent_and_refreshes_the_keys(api_as):
    client = api_as(UserFactory())
    sub = browser()
    assert post(client, sub.as_json()).status_code == 201
    assert post(client, sub.as_json()).status_code == 200
    renewed = BrowserSubscription(sub.endpoint)

    assert post(client, renewed.as_json()).status_code == 200

    row = PushSubscription.objects.get()
    assert (row.p256dh, row.auth) == (renewed.p256dh, renewed.auth)


def test_unsubscribing_removes_it_and_a_second_time_is_not_found(api_as):
    client = api_as(UserFactory())
    sub = browser()
    post(client, sub.as_json())

    assert client.delete(URL, {"endpoint": sub.endpoint}, format="json").status_code == 204
    assert stored() == []
    assert client.delete(URL, {"endpoint": sub.endpoint}, format="json").status_code == 404


def test_someone_elses_subscription_cannot_be_deleted_or_listed(api_as):
    ann, bob = UserFactory(), UserFactory()
    sub = browser()
    post(api_as(ann), sub.as_json())

    response = api_as(bob).delete(URL, {"endpoint": sub.endpoint}, format="json")

    assert response.status_code == 404
    assert stored() == [(sub.endpoint, ann.pk)]
    assert api_as(bob).get(URL).json()["subscriptions"] == []


def test_the_browser_now_logged_in_as_another_user_takes_the_subscription_over(api_as):
    ann, bob = UserFactory(), UserFactory()
    sub = browser()
    post(api_as(ann), sub.as_json())

    assert post(api_as(bob), sub.as_json()).status_code == 200

    assert stored() == [(sub.endpoint, bob.pk)]  # ann's pushes no longer reach that browser
    assert api_as(ann).get(URL).json()["subscriptions"] == []


def test_past_the_cap_the_users_oldest_browser_is_replaced(api_as, settings):
    settings.WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER = 2
    user, other = UserFactory(), UserFactory()
    post(api_as(other), browser("other").as_json())
    client = api_as(user)
    for name in ("first", "second", "third"):
        assert post(client, browser(name).as_json()).status_code == 201

    assert stored() == [(FCM + "other", other.pk), (FCM + "second", user.pk), (FCM + "third", user.pk)]


def test_unknown_members_are_ignored(api_as):
    body = {**browser().as_json(), "expirationTime": 1893456000000, "extra": {"x": 1}}
    assert post(api_as(UserFactory()), body).status_code == 201


NOT_ON_CURVE = b64(b"\x04" + (1).to_bytes(32, "big") + (1).to_bytes(32, "big"))


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda b: b["keys"].update(p256dh="not base64!"), "p256dh"),
        (lambda b: b["keys"].update(p256dh=b64(b"\x04" + b"\x01" * 31)), "p256dh"),  # wrong length
        (lambda b: b["keys"].update(p256dh=b64(b"\x02" + b"\x01" * 64)), "p256dh"),  # not uncompressed
        (lambda b: b["keys"].update(p256dh=NOT_ON_CURVE), "p256dh"),
        (lambda b: b["keys"].update(auth=b64(b"\x00" * 15)), "auth"),
        (lambda b: b["keys"].update(auth="a=b"), "auth"),
        (lambda b: b["keys"].pop("auth"), "keys"),
        (lambda b: b.pop("keys"), "keys"),
        (lambda b: b.update(keys="x"), "keys"),
        (lambda b: b.update(endpoint="http://fcm.googleapis.com/fcm/send/abc"), "endpoint"),
        (lambda b: b.update(endpoint="https://push.evil.example/abc"), "endpoint"),
        (lambda b: b.update(endpoint="https://10.0.0.5/abc"), "endpoint"),
        (lambda b: b.update(endpoint="https://user:pw@fcm.googleapis.com/x"), "endpoint"),
        (lambda b: b.update(endpoint="ftp://fcm.googleapis.com/x"), "endpoint"),
        (lambda b: b.update(endpoint=FCM + "x" * 1000), "endpoint"),
        (lambda b: b.update(endpoint="https://fcm.googleapis.com:99999/x"), "endpoint"),
        (lambda b: b.update(endpoint=""), "endpoint"),
        (lambda b: b.update(endpoint=["https://fcm.googleapis.com/x"]), "endpoint"),
    ],
)
def test_a_bad_subscription_is_refused_with_the_field_named_and_nothing_stored(api_as, change, field):
    body = browser().as_json()
    change(body)

    response = post(api_as(UserFactory()), body)

    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert stored() == []


def test_a_huge_body_is_refused(api_as):
    body = {**browser().as_json(), "padding": "x" * 5000}
    response = post(api_as(UserFactory()), body)
    assert response.status_code == 400
    assert "4096 bytes" in response.json()["detail"]
    assert stored() == []


def test_loopback_endpoints_only_when_allowed(api_as, settings):
    settings.DEBUG = False
    settings.WEBPUSH_ALLOW_INSECURE_ENDPOINTS = False
    client = api_as(UserFactory())
    local = BrowserSubscription("http://127.0.0.1:9/push/a")
    assert post(client, local.as_json()).status_code == 400

    settings.WEBPUSH_ALLOW_INSECURE_ENDPOINTS = True
    assert post(client, local.as_json()).status_code == 201


def test_any_public_https_host_when_the_host_list_is_empty(api_as, settings):
    settings.WEBPUSH_ENDPOINT_HOSTS = []
    sub = BrowserSubscription("https://push.example.net/abc")
    assert post(api_as(UserFactory()), sub.as_json()).status_code == 201


def test_without_vapid_keys_push_is_off_and_nothing_is_stored(api_as, settings):
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    client = api_as(UserFactory())

    response = post(client, browser().as_json())

    assert response.status_code == 503 and response.json()["code"] == "push_disabled"
    assert stored() == []
    assert client.get(URL).json()["enabled"] is False


def test_anonymous_callers_are_refused():
    client = APIClient()
    assert client.get(URL).status_code == 403
    assert post(client, browser().as_json()).status_code == 403
    assert stored() == []


def test_a_session_write_needs_the_csrf_token():
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    assert post(client, browser().as_json()).status_code == 403
    assert stored() == []


def test_subscribing_is_throttled(api_as, throttle_rate):
    throttle_rate("push_subscriptions", "2/min")
    client = api_as(UserFactory())
    assert [post(client, browser(f"b{i}").as_json()).status_code for i in range(3)] == [201, 201, 429]


def test_logging_out_stops_pushes_to_that_browser():
    user = UserFactory()
    page = Client()
    page.force_login(user)
    other_browser = Client()
    other_browser.force_login(user)
    this_one, other_one = browser("this"), browser("other")
    page.post(URL, json.dumps(this_one.as_json()), content_type="application/json")
    other_browser.post(URL, json.dumps(other_one.as_json()), content_type="application/json")

    page.post(reverse("jobs:logout"))

    assert stored() == [(other_one.endpoint, user.pk)]
