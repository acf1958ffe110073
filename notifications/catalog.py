"""The notification catalog: every type, its priority, its variables and its default text.

This is the single source the models' choices, template validation, the default
templates (data migration) and the built-in fallback all read from.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import models


class NotificationType(models.TextChoices):
    JOB_CREATED = "job_created", "New job available"
    BID_RECEIVED = "bid_received", "Bid received"
    BID_ACCEPTED = "bid_accepted", "Bid accepted"
    BID_REJECTED = "bid_rejected", "Bid rejected"
    # Stored as "job_accepted" (rows, preferences, templates and API clients use that value);
    # the name and label say what happened: the job was assigned.
    JOB_ASSIGNED = "job_accepted", "Job assigned"
    JOB_STARTED = "job_started", "Job started"
    JOB_COMPLETED = "job_completed", "Job completed"
    JOB_CANCELLED = "job_cancelled", "Job cancelled"
    PAYMENT_RECEIVED = "payment_received", "Payment received"
    MESSAGE_RECEIVED = "message_received", "Message received"
    SYSTEM_ALERT = "system_alert", "Announcement"
    REMINDER = "reminder", "Reminder"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


JOB_VARIABLES = ("job_title", "job_city", "service_type", "scheduled_start", "budget", "client_name")


class Channel(models.TextChoices):
    """Deliveries beyond the in-app row (which is always first and always made)."""

    EMAIL = "email", "Email"
    PUSH = "push", "Push"


class Condition(models.TextChoices):
    """What must still hold when a delayed delivery falls due, or it is cancelled."""

    UNSEEN = "unseen", "still unseen"  # not seen on a page, not read
    UNREAD = "unread", "still unread"  # not read (a glimpse in a toast is not reading a message)


@dataclass(frozen=True)
class ChannelRule:
    """One channel of a type's policy: on by default, at once (delay None) or after delay_seconds."""

    channel: str
    delay_seconds: int | None = None
    condition: str = Condition.UNSEEN


@dataclass(frozen=True)
class CatalogEntry:
    type: str
    priority: str
    variables: tuple[str, ...]
    title: str
    message: str
    # Email and push beyond the in-app row; a user may turn each off (NotificationChannelPreference).
    channels: tuple[ChannelRule, ...] = ()

    def channel_rule(self, channel: str) -> ChannelRule | None:
        return next((rule for rule in self.channels if rule.channel == channel), None)


PUSH_AT_ONCE = ChannelRule(Channel.PUSH)
EMAIL_AT_ONCE = ChannelRule(Channel.EMAIL)


_ENTRIES = [
    CatalogEntry(
        NotificationType.JOB_CREATED, Priority.MEDIUM, JOB_VARIABLES,
        "New {{ service_type }} job in {{ job_city }}",
        "{{ job_title }} on {{ scheduled_start }}, budget {{ budget }}.",
        channels=(PUSH_AT_ONCE,),
    ),
    CatalogEntry(
        NotificationType.BID_RECEIVED, Priority.MEDIUM, JOB_VARIABLES + ("cleaner_name", "bid_amount"),
        "New bid on {{ job_title }}",
        "{{ cleaner_name }} offers {{ bid_amount }}.",
        channels=(PUSH_AT_ONCE, ChannelRule(Channel.EMAIL, delay_seconds=600)),
    ),
    CatalogEntry(
        NotificationType.BID_ACCEPTED, Priority.HIGH, JOB_VARIABLES + ("bid_amount",),
        "Your bid was accepted",
        "{{ client_name }} accepted your bid of {{ bid_amount }} for {{ job_title }} on {{ scheduled_start }}.",
        channels=(PUSH_AT_ONCE, EMAIL_AT_ONCE),
    ),
    CatalogEntry(
        NotificationType.BID_REJECTED, Priority.LOW, JOB_VARIABLES + ("bid_amount", "reason"),
        "Your bid on {{ job_title }} was not accepted",
        "{{ reason }}",
    ),
    CatalogEntry(
        NotificationType.JOB_ASSIGNED, Priority.MEDIUM, JOB_VARIABLES + ("cleaner_name", "bid_amount"),
        "{{ job_title }} is assigned",
        "{{ cleaner_name }} will do it for {{ bid_amount }} on {{ scheduled_start }}.",
    ),
    CatalogEntry(
        NotificationType.JOB_STARTED, Priority.MEDIUM, JOB_VARIABLES + ("cleaner_name",),
        "{{ job_title }} has started",
        "{{ cleaner_name }} started the job.",
    ),
    CatalogEntry(
        NotificationType.JOB_COMPLETED, Priority.HIGH, JOB_VARIABLES + ("cleaner_name",),
        "{{ job_title }} is done",
        "{{ cleaner_name }} marked the job as completed. You can now pay.",
        channels=(PUSH_AT_ONCE,),
    ),
    CatalogEntry(
        NotificationType.JOB_CANCELLED, Priority.HIGH, JOB_VARIABLES,
        "{{ job_title }} was cancelled",
        "{{ client_name }} cancelled the job planned for {{ scheduled_start }}.",
        channels=(PUSH_AT_ONCE, EMAIL_AT_ONCE),
    ),
    CatalogEntry(
        NotificationType.PAYMENT_RECEIVED, Priority.HIGH, JOB_VARIABLES + ("amount",),
        "Payment received: {{ amount }}",
        "{{ client_name }} paid {{ amount }} for {{ job_title }}.",
        channels=(PUSH_AT_ONCE, EMAIL_AT_ONCE),
    ),
    CatalogEntry(
        NotificationType.MESSAGE_RECEIVED, Priority.MEDIUM, JOB_VARIABLES + ("sender_name", "message_preview"),
        "New message from {{ sender_name }}",
        "{{ message_preview }}",
        channels=(PUSH_AT_ONCE, ChannelRule(Channel.EMAIL, delay_seconds=900, condition=Condition.UNREAD)),
    ),
    CatalogEntry(
        NotificationType.SYSTEM_ALERT, Priority.URGENT, ("title", "message"),
        "{{ title }}",
        "{{ message }}",
    ),
    CatalogEntry(
        NotificationType.REMINDER, Priority.MEDIUM, JOB_VARIABLES + ("cleaner_name",),
        "Tomorrow: {{ job_title }}",
        "{{ job_title }} in {{ job_city }} starts {{ scheduled_start }}.",
        channels=(PUSH_AT_ONCE, EMAIL_AT_ONCE),
    ),
]

CATALOG: dict[str, CatalogEntry] = {entry.type: entry for entry in _ENTRIES}
assert set(CATALOG) == set(NotificationType.values), "every notification type needs a catalog entry"


def sample_context(notification_type: str) -> dict[str, str]:
    """Plausible values for every variable of a type: used for validation and previews."""
    samples = {
        "job_title": "Spring clean of a 2-bedroom flat",
        "job_city": "Amsterdam",
        "service_type": "Deep cleaning",
        "scheduled_start": "Fri 27 Nov, 09:00",
        "budget": "€120.00",
        "client_name": "Anna",
        "cleaner_name": "Ben",
        "bid_amount": "€110.00",
        "amount": "€110.00",
        "reason": "The client chose another offer.",
        "sender_name": "Anna",
        "message_preview": "Could you bring your own vacuum?",
        "title": "Scheduled maintenance tonight",
        "message": "The site will be read-only from 02:00 to 02:30 UTC.",
    }
    return {name: samples[name] for name in CATALOG[notification_type].variables}


# --- grouping: which notifications show as one entry ------------------------------------

# A type's group key, filled from the notification's metadata; a type not listed is never grouped.
# Bids group by job; messages by job and sender (one conversation partner per entry).
GROUP_KEYS: dict[str, str] = {
    NotificationType.BID_RECEIVED: "bids:job:{job_id}",
    NotificationType.MESSAGE_RECEIVED: "messages:job:{job_id}:from:{sender_id}",
}
GROUP_KEY_MAX_LENGTH = 100


def group_key_for(notification_type: str, metadata: dict) -> str | None:
    """The group a notification of this type joins, from its metadata; None: shown on its own."""
    pattern = GROUP_KEYS.get(notification_type)
    return pattern.format(**metadata) if pattern else None


# --- digests: email and push of one batch go as one message (notifications/channels/digests.py) --


@dataclass(frozen=True)
class DigestRule:
    """A type's batch on email and push: the first delivery of a (user, channel, batch key) goes at
    once and opens a window of `window_seconds`; the rest of the window goes as one digest."""

    batch_key: str  # filled from the notification's metadata, like GROUP_KEYS
    window_seconds: int


# Bids by job; messages by thread (a job and the two people in it: the recipient and the sender).
DIGEST_RULES: dict[str, DigestRule] = {
    NotificationType.BID_RECEIVED: DigestRule("bids:job:{job_id}", 600),
    NotificationType.MESSAGE_RECEIVED: DigestRule("thread:job:{job_id}:with:{sender_id}", 900),
}

# The batch key of the job offers held back by a cleaner's hourly push cap (channels/caps.py).
JOB_OFFERS_BATCH_KEY = "job-offers"
# The batch key of what waited for the end of a user's quiet hours (notifications/quiet_hours.py).
QUIET_HOURS_BATCH_KEY = "quiet"


def digest_batch_key_for(notification_type: str, metadata: dict) -> str | None:
    rule = DIGEST_RULES.get(notification_type)
    return rule.batch_key.format(**metadata) if rule else None


def digest_window_seconds(notification_type: str) -> int:
    """The catalog's window; DIGEST_WINDOW_SECONDS (when set) replaces every one."""
    override = settings.DIGEST_WINDOW_SECONDS
    return DIGEST_RULES[notification_type].window_seconds if override is None else override


class DigestKind(models.TextChoices):
    """Which digest template words a digest: one per batched type, one for the capped job offers, one for quiet hours."""

    BIDS = "bid_received", "Bids on one job"
    MESSAGES = "message_received", "Messages in one thread"
    JOB_OFFERS = "job_offers", "Job offers held by the hourly push cap"
    QUIET_HOURS = "quiet_hours", "What waited for the end of quiet hours"


# Every digest template may use these; `items` are the digest's members, each with title, message and link.
DIGEST_VARIABLES = ("count", "items", "more")
DIGEST_ITEM_FIELDS = ("title", "message", "link")


@dataclass(frozen=True)
class DigestDefaults:
    """A kind's variables (beyond DIGEST_VARIABLES) and built-in text, used when no DigestTemplate row is active."""

    variables: tuple[str, ...]
    email_subject: str
    email_body: str
    push_title: str
    push_body: str


_ITEM_LINES = (
    "{% for item in items %}- {{ item.title }}: {{ item.message }}\n  {{ item.link }}\n{% endfor %}"
    "{% if more %}…and {{ more }} more.\n{% endif %}"
)
_ITEM_MESSAGES = "{% for item in items %}{{ item.message }}{% if not forloop.last %} · {% endif %}{% endfor %}"
# Bids and messages of one batch all link to the same job: their lines need no link each.
_MESSAGE_LINES = "{% for item in items %}- {{ item.message }}\n{% endfor %}{% if more %}…and {{ more }} more.\n{% endif %}"

DIGEST_DEFAULTS: dict[str, DigestDefaults] = {
    DigestKind.BIDS: DigestDefaults(
        ("job_title",),
        "{{ count }} new bids on {{ job_title }}",
        "You have {{ count }} new bids on {{ job_title }}:\n\n" + _MESSAGE_LINES,
        "{{ count }} new bids on {{ job_title }}",
        _ITEM_MESSAGES,
    ),
    DigestKind.MESSAGES: DigestDefaults(
        ("job_title", "sender_name"),
        "{{ count }} new messages from {{ sender_name }} about {{ job_title }}",
        "{{ sender_name }} wrote {{ count }} messages about {{ job_title }}:\n\n" + _MESSAGE_LINES,
        "{{ count }} new messages from {{ sender_name }}",
        _ITEM_MESSAGES,
    ),
    DigestKind.JOB_OFFERS: DigestDefaults(
        (),
        "{{ count }} new jobs near you",
        "{{ count }} new jobs near you, nearest first:\n\n" + _ITEM_LINES,
        "{{ count }} new jobs near you",
        _ITEM_MESSAGES,
    ),
    DigestKind.QUIET_HOURS: DigestDefaults(
        (),
        "While your quiet hours lasted: {{ count }} notifications",
        "While your quiet hours lasted:\n\n" + _ITEM_LINES,
        "{{ count }} notifications while your quiet hours lasted",
        "{% for item in items %}{{ item.title }}{% if not forloop.last %} · {% endif %}{% endfor %}",
    ),
}


def digest_variables(kind: str) -> tuple[str, ...]:
    return DIGEST_VARIABLES + DIGEST_DEFAULTS[kind].variables


def digest_sample_context(kind: str) -> dict:
    """Plausible values for a kind's variables: validation and previews."""
    link = "https://spotless.example/jobs/7/"
    items = {
        DigestKind.BIDS: [
            {"title": "New bid on Spring clean", "message": "Ben offers €110.00.", "link": link},
            {"title": "New bid on Spring clean", "message": "Dana offers €95.00.", "link": link},
        ],
        DigestKind.MESSAGES: [
            {"title": "New message from Anna", "message": "Could you bring your own vacuum?", "link": link},
            {"title": "New message from Anna", "message": "And the ladder, please.", "link": link},
        ],
        DigestKind.JOB_OFFERS: [
            {"title": "New Deep cleaning job in Amsterdam", "message": "Spring clean on Fri 27 Nov, 09:00, budget €120.00.", "link": link},
            {"title": "New Window cleaning job in Amsterdam", "message": "Windows on Sat 28 Nov, 10:00, budget €60.00.", "link": link},
        ],
        DigestKind.QUIET_HOURS: [
            {"title": "New bid on Spring clean", "message": "Ben offers €110.00.", "link": link},
            {"title": "New message from Anna", "message": "Could you bring your own vacuum?", "link": link},
        ],
    }[kind]
    samples = {"count": 7, "items": items, "more": 5, "job_title": "Spring clean", "sender_name": "Anna"}
    return {name: samples[name] for name in digest_variables(kind)}


# --- retention (notifications/retention.py) ------------------------------------------


@dataclass(frozen=True)
class Retention:
    """How long a type's rows are kept, in days: `read_days` after being read (from read_at), and
    `unread_days` at most after arriving (from created_at), read or not: a row read late in its
    life does not outlive that. Retracted offers go RETENTION_DAYS_EXPIRED after expired_at, whatever the type."""

    read_days: int
    unread_days: int


def retention_rules() -> dict[str, Retention]:
    """Every type's rule (settings RETENTION_DAYS_*), read when asked so overrides apply."""
    default = Retention(read_days=settings.RETENTION_DAYS_READ, unread_days=settings.RETENTION_DAYS_UNREAD)
    # Announcements are news: read ones go sooner, and nobody needs last season's unread one.
    alerts = Retention(read_days=settings.RETENTION_DAYS_ALERT_READ, unread_days=settings.RETENTION_DAYS_ALERT_UNREAD)
    return {value: alerts if value == NotificationType.SYSTEM_ALERT else default for value in NotificationType.values}


def retention_expired_days() -> int:
    """Days a retracted offer (expired_at set: the job went to someone else) is kept."""
    return settings.RETENTION_DAYS_EXPIRED


def retention_longest_days() -> int:
    """The most any row lives: every rule removes a row `unread_days` after it arrived, read or not."""
    return max(rule.unread_days for rule in retention_rules().values())
