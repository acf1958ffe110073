"""What base.html needs for the bell on every page: rendered on the server, read lazily.

Nothing is queried unless a template touches ``live`` (admin pages and the API never do).
"""

from functools import cached_property

from jobs.selectors import user_is_cleaner

from . import selectors, sequencing
from .live_catalog import notification_catalog
from .models import Notification
from .receipts_door import receipt_token_for

DROPDOWN_SIZE = 8


class LiveNotifications:
    def __init__(self, user):
        self.user = user

    @cached_property
    def unread_count(self) -> int:
        return selectors.notification_unread_count(user_id=self.user.pk)

    @cached_property
    def latest(self) -> list[Notification]:
        self.last_event_id  # noqa: B018 - read first, see last_event_id
        return list(selectors.notifications_for_user(user=self.user)[:DROPDOWN_SIZE])

    @cached_property
    def latest_groups(self) -> list:
        """The dropdown's entries: the latest groups (a notification without a group is one), newest first.

        Without their members' rows: on every page, they would be most of the HTML; the bell
        loads them when a group is opened (and links to them without JavaScript). Their ids are
        rendered, so a member replayed by the stream is known as already shown.
        """
        self.last_event_id  # noqa: B018 - read first, see last_event_id
        return selectors.notification_groups_for_user(user=self.user, member_rows=False)[:DROPDOWN_SIZE]

    @cached_property
    def last_event_id(self) -> int:
        """Where the page's stream starts: the user's delivery seq, read before the latest notifications.

        Everything after it is replayed when the stream opens, so nothing committed
        between this read and connecting is missed; one committed between this read and
        the list's query is both rendered and replayed, and the page drops the repeat by id.
        """
        return sequencing.seq_current(user_id=self.user.pk)

    @cached_property
    def catalog(self) -> dict:
        """The catalog's facts for the page scripts (live_catalog.py), rendered with json_script,
        and this user's receipt token for the pages' acks."""
        return {**notification_catalog(), "receipt_token": receipt_token_for(self.user.pk)}

    @cached_property
    def is_cleaner(self) -> bool:
        return user_is_cleaner(user=self.user)


def live_notifications(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"live": LiveNotifications(user)}
