"""The notification catalog's facts the page scripts need, handed over as one JSON blob.

base.html renders it with ``{{ live.catalog|json_script:"notification-catalog" }}`` and
assets/live.js reads it: the scripts state no priority, icon, label, URL or type set of
their own. What a notification *says* stays in catalog.py; which page parts a type
changes is stated here, once.
"""

from django.urls import reverse

from jobs.models import BidStatus

from .catalog import CATALOG, NotificationType, Priority
from .receipts_door import RECEIPTS_PATH
from .sse.endpoint import EVENTS_PATH

T = NotificationType


# Which types change which live part of a page, when the notification is about the job shown.
# A message touches only the thread; a new bid only the bids; everything else the status too.
PAGE_PARTS: dict[str, tuple[str, ...]] = {
    "board": (T.JOB_CREATED, T.JOB_CANCELLED, T.BID_ACCEPTED, T.BID_REJECTED),
    "job_messages": (T.MESSAGE_RECEIVED,),
    "job_status": tuple(t for t in T if t not in (T.MESSAGE_RECEIVED, T.BID_RECEIVED)),
    "job_bids": tuple(t for t in T if t is not T.MESSAGE_RECEIVED),
}

# "My bids": the status a bid takes when its cleaner is told the client's decision.
BID_DECISIONS = {T.BID_ACCEPTED: BidStatus.ACCEPTED, T.BID_REJECTED: BidStatus.REJECTED}

# The icon drawn for a type (a symbol in templates/notifications/_icons.html, "i-<name>").
DEFAULT_ICON = "bell"


def _read_url_pattern() -> str:
    # One notification's read URL, with "{id}" where the script puts the id.
    return reverse("notifications-api:read", kwargs={"notification_id": 0}).replace("/0/", "/{id}/")


def _group_url_pattern(name: str) -> str:
    # A group's URL, with "{key}" where the script puts the (encoded) group key.
    return reverse(name, kwargs={"group_key": "KEY"}).replace("/KEY/", "/{key}/")


def notification_catalog() -> dict:
    return {
        "priorities": list(Priority.values),
        "default_priority": Priority.MEDIUM.value,
        "default_icon": DEFAULT_ICON,
        "types": {
            entry.type.value: {"label": entry.type.label, "priority": entry.priority.value, "icon": entry.type.value}
            for entry in CATALOG.values()
        },
        "refreshes": {part: [t.value for t in types] for part, types in PAGE_PARTS.items()},
        "bid_states": {t.value: {"status": s.value, "label": s.label} for t, s in BID_DECISIONS.items()},
        "urls": {
            "events": EVENTS_PATH,
            "notifications": reverse("notifications-api:list"),
            "unread_count": reverse("notifications-api:unread-count"),
            "read_all": reverse("notifications-api:read-all"),
            "receipts": reverse("notifications-api:receipts"),
            # The pages' own door for acks, with the receipt token below (receipts_door.py).
            "receipts_door": RECEIPTS_PATH,
            "read": _read_url_pattern(),
            "group": _group_url_pattern("notifications-api:group"),
            "group_read": _group_url_pattern("notifications-api:group-read"),
            "group_read_form": _group_url_pattern("notifications:group-read"),
            # The list page; with ?group=<key>, one group's members one by one.
            "list_page": reverse("notifications:list"),
            # Where a notification without a (safe) link of its own leads.
            "fallback": reverse("notifications:list"),
        },
    }
