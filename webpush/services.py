"""Writes on push subscriptions: store a browser's, remove one, forget one its push service gave up on."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from project.exceptions import DomainError, NotFound

from .models import PushSubscription
from .validation import USER_AGENT_MAX_CHARS, endpoint_validate, keys_validate
from .vapid import webpush_enabled


class PushDisabled(DomainError):
    """This server has no VAPID keys: nothing could ever be sent to a stored subscription."""

    status_code = 503
    code = "push_disabled"


@transaction.atomic
def push_subscription_save(*, user, endpoint: str, p256dh: str, auth: str, user_agent: str = "") -> tuple[PushSubscription, bool]:
    """Store this browser's subscription for `user`; returns (subscription, created).

    Saving it again is idempotent (the keys are refreshed). An endpoint stored for another user
    moves to this one: only the browser that holds the subscription knows its endpoint (a
    capability URL issued by the push service), so whoever is logged in there now receives
    its pushes and the previous user no longer does. Past WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER
    the user's oldest subscriptions are removed.
    """
    if not webpush_enabled():
        raise PushDisabled("Web Push is not set up on this server (no VAPID keys).")
    endpoint_validate(endpoint)
    keys_validate(p256dh=p256dh, auth=auth)
    fields = {"user": user, "p256dh": p256dh, "auth": auth, "user_agent": (user_agent or "")[:USER_AGENT_MAX_CHARS]}
    subscription, created = PushSubscription.objects.update_or_create(endpoint=endpoint, defaults=fields)
    _keep_newest(user=user, keep=settings.WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER)
    return subscription, created


def _keep_newest(*, user, keep: int) -> None:
    stale = PushSubscription.objects.filter(user=user).order_by("-created_at", "-id").values_list("id", flat=True)[keep:]
    stale_ids = list(stale)
    if stale_ids:
        PushSubscription.objects.filter(id__in=stale_ids).delete()


def push_subscription_delete(*, user, endpoint: str) -> None:
    """Remove the caller's own subscription (turning push off in that browser); another user's is not found."""
    deleted, _ = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    if not deleted:
        raise NotFound("You have no push subscription with that endpoint.", field="endpoint")


def push_subscription_forget(*, endpoint: str) -> int:
    """Delete a subscription its push service answered 404/410 for (RFC 8030 §7.3); returns rows deleted (0 or 1)."""
    deleted, _ = PushSubscription.objects.filter(endpoint=endpoint).delete()
    return deleted


def push_subscriptions_forget_for_session(*, user, endpoints: list[str]) -> int:
    """On logout: the subscriptions this login session stored stop receiving the user's pushes."""
    if not endpoints:
        return 0
    deleted, _ = PushSubscription.objects.filter(user=user, endpoint__in=endpoints).delete()
    return deleted


def push_subscriptions_mark_success(*, subscription_ids: list[int]) -> int:
    """Note a delivered push (shown in the admin); one UPDATE for a batch."""
    return PushSubscription.objects.filter(id__in=subscription_ids).update(last_success_at=timezone.now())
