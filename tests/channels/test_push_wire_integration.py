"""END TO END, AFTER THE MERGE: the push channel over the push helper's wire (webpush.sending) to the
local test push service (devtools). Skipped until both are on the branch; the lead finishes the
wiring marked "MERGE:" (the push service's start/stop and how it reports the requests it received).

What it proves: a bid's push leaves at once through the real send task, the push service gets an
RFC 8291 request that this test decrypts with the subscription's private key (the payload names
the notification and its page); a 410 deletes the subscription; a 500 keeps the delivery pending
for a retry; a user with two browsers gets one delivery row and two requests.
"""

import base64
import json
import os
from decimal import Decimal

import pytest

sending = pytest.importorskip("webpush.sending", reason="the push wire lands with the push branch")
push_service = pytest.importorskip("devtools.push_service", reason="MERGE: the local test push service's module")

import http_ece  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from jobs import services as job_services  # noqa: E402
from notifications.models import ChannelDelivery  # noqa: E402
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory  # noqa: E402
from webpush.models import PushSubscription  # noqa: E402

pytestmark = pytest.mark.django_db


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Browser:
    """What a browser keeps for one subscription: its ECDH key pair and auth secret."""

    def __init__(self):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        public = self.private_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        self.p256dh = b64url(public)

    def subscribe(self, user, endpoint: str) -> PushSubscription:
        return PushSubscription.objects.create(user=user, endpoint=endpoint, p256dh=self.p256dh, auth=b64url(self.auth))

    def decrypt(self, body: bytes) -> dict:
        return json.loads(http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"))


@pytest.fixture
def service():
    # MERGE: start the push helper's local push service; it must expose its base URL, the requests
    # it received (endpoint path, headers, body) and a way to answer a path with 410 or 500.
    server = push_service.start()
    yield server
    server.stop()


def test_a_bid_is_pushed_at_once_encrypted_for_the_clients_browsers(service, django_capture_on_commit_callbacks):
    client, cleaner = ClientFactory(), CleanerFactory()
    laptop, phone = Browser(), Browser()
    laptop.subscribe(client, service.url("/laptop"))
    phone.subscribe(client, service.url("/phone"))
    job = CleaningJobFactory(client=client, title="Attic clean")

    with django_capture_on_commit_callbacks(execute=True):
        job_services.bid_place(job=job, cleaner=cleaner, amount=Decimal("95"))

    push = ChannelDelivery.objects.get(channel="push", notification__recipient=client)
    assert (push.state, push.attempts) == ("sent", 1)
    bodies = {request.path: request.body for request in service.requests()}  # MERGE: the service's record
    assert set(bodies) == {"/laptop", "/phone"}
    payload = laptop.decrypt(bodies["/laptop"])
    assert payload["title"] == "New bid on Attic clean"
    assert payload["url"] == f"/jobs/{job.pk}/"
    assert payload["tag"] == f"notification-{push.notification_id}"
    assert phone.decrypt(bodies["/phone"]) == payload


def test_a_gone_subscription_is_deleted_and_a_500_retries_later(service, django_capture_on_commit_callbacks):
    gone_user, failing_user, cleaner = ClientFactory(), ClientFactory(), CleanerFactory()
    Browser().subscribe(gone_user, service.url("/gone"))
    Browser().subscribe(failing_user, service.url("/failing"))
    service.answer("/gone", 410)  # MERGE: the service's way to answer a path
    service.answer("/failing", 500)

    for client in (gone_user, failing_user):
        with django_capture_on_commit_callbacks(execute=True):
            job_services.bid_place(job=CleaningJobFactory(client=client), cleaner=cleaner, amount=Decimal("80"))

    assert not PushSubscription.objects.filter(user=gone_user).exists()
    gone = ChannelDelivery.objects.get(channel="push", notification__recipient=gone_user)
    assert (gone.state, gone.cancel_reason) == ("cancelled", "no push subscription")
    failing = ChannelDelivery.objects.get(channel="push", notification__recipient=failing_user)
    assert (failing.state, failing.attempts) == ("pending", 1)
    assert "500" in failing.provider_response
