"""The Web Push channel: every subscription of each delivery's user, in parallel over one pooled session.

The wire (RFC 8291 encryption, VAPID, the POST) is webpush.sending's, the payload's shape
webpush.payloads'; both are imported when a push is sent. This module decides what a batch's
answers mean. A delivery is sent when one of the user's browsers accepted it; subscriptions
answered 404/410 are forgotten; a 5xx or timeout retries the delivery (unless another browser
of the user accepted it); a user with no subscription left is cancelled.
"""

from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from webpush.models import PushSubscription

from ..models import ChannelDelivery, Notification
from .results import SendResult


def push_payload_for(notification: Notification) -> dict:
    """What the service worker shows; a click opens the notification's page; its tag makes a repeat replace it."""
    from webpush.payloads import push_payload

    return push_payload(
        title=notification.title,
        body=notification.message,
        url=notification.action_url or "/notifications/",
        notification_id=notification.pk,
        type=notification.notification_type,
    )


def push_send_batch(deliveries: list[ChannelDelivery]) -> Iterator[tuple[int, SendResult]]:
    return push_send_payloads(
        [(delivery.pk, delivery.notification.recipient_id, push_payload_for(delivery.notification)) for delivery in deliveries]
    )


def push_send_payloads(targets: list[tuple[int, int, dict]]) -> Iterator[tuple[int, SendResult]]:
    """Each (key of the caller's, user id, payload) to every browser of its user, in parallel; one outcome per key."""
    from webpush import sending, services  # the push wire

    subscriptions = defaultdict(list)
    for subscription in PushSubscription.objects.filter(user_id__in={user_id for _, user_id, _ in targets}):
        subscriptions[subscription.user_id].append(subscription)
    jobs = [(key, payload, subscription) for key, user_id, payload in targets for subscription in subscriptions[user_id]]
    session = sending.push_session()
    with ThreadPoolExecutor(max_workers=settings.CHANNEL_PUSH_THREADS) as pool:
        outcomes = list(pool.map(lambda job: sending.push_send(job[2], job[1], session=session), jobs))

    answers = defaultdict(list)
    accepted = []
    for (key, _, subscription), outcome in zip(jobs, outcomes, strict=True):
        answers[key].append(outcome)
        if outcome.status == "gone":
            services.push_subscription_forget(endpoint=subscription.endpoint)
        elif outcome.status == "sent":
            accepted.append(subscription.pk)
    services.push_subscriptions_mark_success(subscription_ids=accepted)
    for key, _, _ in targets:
        yield key, _result(answers[key])


def _result(outcomes) -> SendResult:
    detail = "; ".join(f"{o.status} {o.http_status or ''} {o.detail}".strip() for o in outcomes)[:2000]
    statuses = {o.status for o in outcomes}
    if "sent" in statuses:
        return SendResult("sent", detail)
    if "failed" in statuses:
        return SendResult("retry", detail)
    return SendResult("cancelled", "no push subscription")
