"""push_send against a real local push service: what arrives, decrypted with the browser's keys; every answer mapped."""

import time

import pytest
from django.conf import settings

from devtools.processes import free_port
from devtools.push_service import HANG, BrowserSubscription, vapid_claims
from tests.factories import UserFactory
from webpush import services
from webpush.models import PushSubscription
from webpush.payloads import MAX_PAYLOAD_BYTES, PushPayloadTooLarge, payload_encode, push_payload
from webpush.sending import PushOutcome, push_send, push_session

PAYLOAD = push_payload(title="New bid on Spring clean", body="Ann bid €120.", url="/jobs/7/", notification_id=41, type="bid_received")


def subscription_on(endpoint: str) -> tuple[PushSubscription, BrowserSubscription]:
    """An unsaved subscription row for a fresh browser key pair (push_send reads only its fields)."""
    browser = BrowserSubscription(endpoint)
    return PushSubscription(endpoint=endpoint, p256dh=browser.p256dh, auth=browser.auth), browser


def test_the_browser_decrypts_what_arrives_and_the_vapid_signature_verifies(push_service, vapid_keys):
    subscription, browser = subscription_on(push_service.endpoint("ann"))

    outcome = push_send(subscription, PAYLOAD)

    assert outcome.status == "sent" and outcome.http_status == 201
    [push] = push_service.pushes_to("ann")
    assert push.headers["content-encoding"] == "aes128gcm"
    assert push.headers["ttl"] == str(settings.WEBPUSH_TTL_SECONDS)
    assert push.headers["topic"] == "n41"
    assert b"Spring clean" not in push.body  # encrypted on the wire
    received = browser.decrypt_json(push.body)
    assert received["title"] == "New bid on Spring clean"
    assert received["url"] == "/jobs/7/"
    assert received == PAYLOAD
    claims = vapid_claims(push.headers["authorization"], public_key=vapid_keys[0])
    assert claims["aud"] == push_service.origin
    assert claims["sub"] == settings.VAPID_SUBJECT
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600


def test_another_browser_cannot_read_it_nor_another_key_verify_it(push_service):
    subscription, _ = subscription_on(push_service.endpoint("ann"))
    push_send(subscription, PAYLOAD)
    [push] = push_service.pushes_to("ann")

    stranger = BrowserSubscription(push_service.endpoint("bob"))
    with pytest.raises(Exception):
        stranger.decrypt(push.body)
    other_public_key = BrowserSubscription("x").p256dh
    with pytest.raises(ValueError):
        vapid_claims(push.headers["authorization"], public_key=other_public_key)


@pytest.mark.parametrize("status", [404, 410])
def test_a_subscription_the_push_service_no_longer_knows_is_gone(push_service, status):
    subscription, _ = subscription_on(push_service.endpoint("ann"))
    push_service.answer("ann", status)

    assert push_send(subscription, PAYLOAD) == PushOutcome("gone", status, f"{status} {'Not Found' if status == 404 else 'Gone'}")


def test_a_server_error_is_a_failure_to_retry_not_an_exception(push_service):
    subscription, _ = subscription_on(push_service.endpoint("ann"))
    push_service.answer("ann", 500)

    outcome = push_send(subscription, PAYLOAD)

    assert (outcome.status, outcome.http_status) == ("failed", 500)


def test_a_push_service_that_never_answers_fails_after_the_timeout(push_service, settings):
    settings.WEBPUSH_TIMEOUT_SECONDS = 0.5
    subscription, _ = subscription_on(push_service.endpoint("ann"))
    push_service.answer("ann", HANG)

    started = time.monotonic()
    outcome = push_send(subscription, PAYLOAD)

    assert (outcome.status, outcome.http_status) == ("failed", None)
    assert "timed out" in outcome.detail
    assert time.monotonic() - started < 5
    assert len(push_service.pushes_to("ann")) == 1  # it did reach the service: a retry may repeat it (Topic collapses it)


def test_a_push_service_that_refuses_connections_is_a_failure():
    subscription, _ = subscription_on(f"http://127.0.0.1:{free_port()}/push/ann")

    outcome = push_send(subscription, PAYLOAD)

    assert (outcome.status, outcome.http_status) == ("failed", None)
    assert "ConnectionError" in outcome.detail


def test_sends_reuse_one_connection_of_the_pooled_session(push_service):
    subscriptions = [subscription_on(push_service.endpoint(f"browser{i}"))[0] for i in range(5)]

    outcomes = [push_send(subscription, PAYLOAD) for subscription in subscriptions]

    assert {outcome.status for outcome in outcomes} == {"sent"}
    assert len(push_service.received) == 5
    assert push_service.connections == 1
    assert push_session() is push_session()


def test_a_given_session_is_used(push_service):
    import requests

    subscription, _ = subscription_on(push_service.endpoint("ann"))
    with requests.Session() as session:
        push_send(subscription, PAYLOAD, session=session)
        push_send(subscription, PAYLOAD, session=session)
    assert push_service.connections == 1


def test_a_long_body_is_shortened_to_fit_and_still_arrives_whole(push_service):
    subscription, browser = subscription_on(push_service.endpoint("ann"))
    payload = push_payload(title="T" * 500, body="é" * 5000, url="/jobs/7/", notification_id=1, type="message_received")

    assert len(payload_encode(payload)) <= MAX_PAYLOAD_BYTES
    assert push_send(subscription, payload).status == "sent"
    received = browser.decrypt_json(push_service.received[0].body)
    assert received["body"].endswith("…") and received["body"].startswith("éé")
    assert len(received["title"]) == 120


def test_an_oversized_payload_is_refused_before_anything_is_sent(push_service):
    subscription, _ = subscription_on(push_service.endpoint("ann"))
    with pytest.raises(PushPayloadTooLarge):
        push_send(subscription, {"title": "x", "body": "y" * 4000})
    assert push_service.received == []


@pytest.mark.parametrize("url", ["https://evil.example/", "//evil.example/x", "jobs/7/"])
def test_a_payload_opens_only_pages_of_this_site(url):
    with pytest.raises(ValueError):
        push_payload(title="x", body="y", url=url, notification_id=1, type="job_created")


@pytest.mark.django_db
def test_forgetting_a_gone_subscription_deletes_it_and_success_is_noted(push_service):
    user = UserFactory()
    kept, _ = subscription_on(push_service.endpoint("kept"))
    gone, _ = subscription_on(push_service.endpoint("gone"))
    for row in (kept, gone):
        row.user = user
        row.save()
    push_service.answer("gone", 410)

    outcomes = {row.endpoint: push_send(row, PAYLOAD) for row in (kept, gone)}
    for row in (kept, gone):
        if outcomes[row.endpoint].status == "gone":
            assert services.push_subscription_forget(endpoint=row.endpoint) == 1
    services.push_subscriptions_mark_success(subscription_ids=[kept.pk])

    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == [kept.endpoint]
    kept.refresh_from_db()
    assert kept.last_success_at is not None
    assert services.push_subscription_forget(endpoint=gone.endpoint) == 0


@pytest.mark.parametrize("body", ['"quoted" ' * 900, "line\n" * 1500, "\u0001" * 3000])
def test_bodies_that_json_escaping_lengthens_are_shortened_to_fit_too(body):
    payload = push_payload(title="t", body=body, url="/jobs/7/", notification_id=1, type="message_received")

    assert len(payload_encode(payload)) <= MAX_PAYLOAD_BYTES
    assert payload["body"].endswith("…") and body.startswith(payload["body"][:-1])


@pytest.mark.parametrize("status", [301, 307, 308])
def test_a_redirect_is_not_followed(push_service, status):
    subscription, _ = subscription_on(push_service.endpoint("ann"))
    push_service.answer("ann", status)

    outcome = push_send(subscription, PAYLOAD)

    assert outcome.status == "failed" and "redirect" in outcome.detail
    assert push_service.pushes_to("redirected") == []
