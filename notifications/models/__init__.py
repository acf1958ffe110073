"""Notifications, their templates, users' preferences and the outbox of domain events, by idea:
outbox (events and chunks), inbox (notifications, their sequence, templates, mutes), lifecycle
(retention runs, account deletions), channels (email and push deliveries, quiet hours, digests, caps)."""

from .channels import (
    ChannelDelivery,
    ChannelDigest,
    DeliveryState,
    DigestReason,
    DigestState,
    DigestTemplate,
    JobOfferPushCap,
    JobOfferPushSlot,
    NotificationChannelPreference,
    QuietHours,
    QuietHoursWindow,
)
from .inbox import Notification, NotificationPreference, NotificationQuerySet, NotificationSequence, NotificationTemplate
from .lifecycle import AccountDeletion, RetentionRun
from .outbox import OutboxChunk, OutboxEvent, OutboxStatus

__all__ = [
    "AccountDeletion", "ChannelDelivery", "ChannelDigest", "DeliveryState", "DigestReason", "DigestState", "DigestTemplate",
    "JobOfferPushCap", "JobOfferPushSlot", "Notification", "NotificationChannelPreference", "NotificationPreference",
    "NotificationQuerySet", "NotificationSequence", "NotificationTemplate", "OutboxChunk", "OutboxEvent", "OutboxStatus",
    "QuietHours", "QuietHoursWindow", "RetentionRun",
]
