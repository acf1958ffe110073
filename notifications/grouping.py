"""Grouped notifications: what one entry of a group says ("4 new bids on Spring clean, from €95.00 to €120.00").

Which notifications form a group is the catalog's rule (catalog.GROUP_KEYS); the grouped
reads are notifications.selectors.notification_groups_for_user. This module only words them.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from jobs.money import format_money

from .catalog import NotificationType
from .models import Notification

# One group's members listed under its entry (bell, list page, API); the rest are one link away.
MEMBERS_SHOWN = 5


@dataclass
class NotificationGroup:
    """One entry of a grouped listing: a group's live members (or one ungrouped notification)."""

    key: str | None  # None: a notification without a group, shown on its own
    count: int
    unread_count: int
    latest: Notification  # the newest member represents the group
    members: list[Notification] = field(default_factory=list)  # latest first, at most MEMBERS_SHOWN (or none: ids only)
    member_ids: list[int] = field(default_factory=list)  # the same members' ids
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None

    @property
    def is_group(self) -> bool:
        return self.count > 1

    @property
    def summary(self) -> str:
        return group_summary(self)


# Per grouped type: (one, many, what it is about); the about part may use job_title and sender_name.
_WORDS = {
    NotificationType.BID_RECEIVED: ("bid", "bids", "on {job_title}"),
    NotificationType.MESSAGE_RECEIVED: ("message", "messages", "from {sender_name} about {job_title}"),
}


def group_summary(group: NotificationGroup) -> str:
    """The entry's one line: the latest member's title alone, or the count, what about, and the range of amounts.

    "new" counts unread members: "4 new bids ..." when all are unread, "4 bids ... (1 new)" when some are.
    """
    latest = group.latest
    words = _WORDS.get(latest.notification_type)
    if not group.is_group or words is None:
        return latest.title
    one, many, about = words
    job_title = latest.job.title if latest.job_id and latest.job else "a job"
    about = about.format(job_title=job_title, sender_name=latest.metadata.get("sender_name") or "someone")
    noun = one if group.count == 1 else many
    if group.unread_count == group.count:
        line = f"{group.count} new {noun} {about}"
    elif group.unread_count:
        line = f"{group.count} {noun} {about} ({group.unread_count} new)"
    else:
        line = f"{group.count} {noun} {about}"
    if group.min_amount is not None and group.max_amount is not None:
        if group.min_amount == group.max_amount:
            line += f", all {format_money(group.min_amount)}"
        else:
            line += f", from {format_money(group.min_amount)} to {format_money(group.max_amount)}"
    return line
