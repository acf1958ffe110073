"""End to end: the push channel over the Web Push wire (webpush.sending) to the local test push
service (devtools.push_service).

What it proves: a bid's push leaves at once through the real send path, the push service gets an
RFC 8291 request that this test decrypts with the subscription's private key (the payload names
the notification and its page); two browsers of one user get one delivery row and two requests;
a 410 forgets the subscription; a 500 keeps the delivery pending for a retry.
"""

from decimal import Decimal

import pytest

from devtools import push_service
from jobs import services as job_services
from notifications.models import ChannelDelivery
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory
from webpush.models import PushSubscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(settings):
    from webpush.vapid import vapid_keys_generate

    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = vapid_keys_generate()
    server = push_service.PushService().start()
    yield server
    server.stop()


def browser(service, user, name):
    subscription = push_service.BrowserSubscription(service.endpoint(name))
    PushSubscription.objects.create(user=user, endpoint=subscription.endpoint, p256dh=subscription.p256dh, auth=subscription.auth)
    return subscription


def test_a_bid_is_pushed_at_once_encrypted_for_each_of_the_clients_browsers(service, django_capture_on_commit_callbacks):
    client, cleaner = ClientFactory(), CleanerFactory()
    laptop, phone = browser(service, client, "laptop"), browser(service, client, "phone")
    job = CleaningJobFactory(client=client, title="Attic clean")

    with django_capture_on_commit_callbacks(execute=True):
        job_services.bid_place(job=job, cleaner=cleaner, amount=Decimal("95"))

    push = ChannelDelivery.objects.get(channel="push", notification__recipient=client)
    assert (push.state, push.attempts) == ("sent", 1)
    [to_laptop], [to_phone] = service.pushes_to("laptop"), service.pushes_to("phone")
    payload = laptop.decrypt_json(to_laptop.body)
    assert payload["title"] == "New bid on Attic clean"
    assert payload["url"] == f"/jobs/{job.pk}/"
    assert (payload["notification_id"], payload["tag"]) == (push.notification_id, f"notification-{push.notification_id}")
    assert phone.decrypt_json(to_phone.body) == payload
    assert PushSubscription.objects.filter(user=client, last_success_at__isnull=False).count() == 2


def test_a_gone_subscription_is_forgotten_and_a_500_retries_later(service, django_capture_on_commit_callbacks):
    gone_user, failing_user, cleaner = ClientFactory(), ClientFactory(), CleanerFactory()
    browser(service, gone_user, "gone")
    browser(service, failing_user, "failing")
    service.answer("gone", 410)
    service.answer("failing", 500)

    for client in (gone_user, failing_user):
        with django_capture_on_commit_callbacks(execute=True):
            job_services.bid_place(job=CleaningJobFactory(client=client), cleaner=cleaner, amount=Decimal("80"))

    assert not PushSubscription.objects.filter(user=gone_user).exists()
    gone = ChannelDelivery.objects.get(channel="push", notification__recipient=gone_user)
    assert (gone.state, gone.cancel_reason) == ("cancelled", "no push subscription")
    failing = ChannelDelivery.objects.get(channel="push", notification__recipient=failing_user)
    assert (failing.state, failing.attempts) == ("pending", 1)
    assert "500" in failing.provider_response
