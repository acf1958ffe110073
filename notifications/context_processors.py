"""What base.html needs for the bell on every page: rendered on the server, read lazily.

Nothing is queried unless a template touches ``live`` (admin pages and the API never do).
"""

from functools import cached_property

from django.db.models import Max

from jobs.selectors import user_is_cleaner

from . import selectors
from .models import Notification

DROPDOWN_SIZE = 8


class LiveNotifications:
    def __init__(self, user):
        self.user = user

    @cached_property
    def unread_count(self) -> int:
        return selectors.notification_unread_count(user_id=self.user.pk)

    @cached_property
    def latest(self) -> list[Notification]:
        return list(selectors.notifications_for_user(user=self.user)[:DROPDOWN_SIZE])

    @cached_property
    def last_event_id(self) -> int:
        """Where the page's stream starts: the newest notification rendered, else the user's newest.

        Everything after it is replayed when the stream opens, so nothing created
        between rendering and connecting is missed.
        """
        if self.latest:
            return self.latest[0].pk
        newest = Notification.objects.filter(recipient_id=self.user.pk).aggregate(newest=Max("pk"))["newest"]
        return newest or 0

    @cached_property
    def is_cleaner(self) -> bool:
        return user_is_cleaner(user=self.user)


def live_notifications(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"live": LiveNotifications(user)}
