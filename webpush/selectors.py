"""Reads on push subscriptions."""

from django.db.models import QuerySet

from .models import PushSubscription


def push_subscriptions_of(*, user) -> QuerySet[PushSubscription]:
    """The user's browsers, newest first."""
    return PushSubscription.objects.filter(user=user).order_by("-created_at", "-id")


def push_subscriptions_for_users(*, user_ids) -> QuerySet[PushSubscription]:
    """Every subscription of these users (a list or a subquery), for sending one notification each."""
    return PushSubscription.objects.filter(user_id__in=user_ids).order_by("user_id", "id")
