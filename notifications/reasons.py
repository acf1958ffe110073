"""Why a notification reached its recipient, in one line.

Built here only, from the row's type and metadata (no query): the notifications list,
the job page, the API and the SSE payload all show this text. An offer's metadata["why"]
holds what matched (notifications.plans, notifications.outbox.delivery): the service and
weekday shared by the audience, and this cleaner's distance to the job and radius.
"""

from jobs.models import ServiceType, Weekday

from .catalog import NotificationType
from .models import Notification

ANNOUNCEMENT_AUDIENCES = {
    "all": "An announcement to everyone",
    "cleaners": "An announcement to all cleaners",
    "clients": "An announcement to all clients",
}
REASONS = {
    NotificationType.JOB_CREATED: "The job matches your services, area and working days",  # rows stored before "why"
    NotificationType.BID_RECEIVED: "Your job: a cleaner bid on it",
    NotificationType.BID_ACCEPTED: "Your bid on this job",
    NotificationType.BID_REJECTED: "Your bid on this job",
    NotificationType.JOB_ASSIGNED: "Your job",
    NotificationType.JOB_STARTED: "Your job",
    NotificationType.JOB_COMPLETED: "Your job",
    NotificationType.JOB_CANCELLED: "A job you bid on or were assigned",
    NotificationType.PAYMENT_RECEIVED: "Your payment for this job",
    NotificationType.MESSAGE_RECEIVED: "A message to you about this job",
    NotificationType.REMINDER: "Your booking on this job",
}


def reason_text(notification) -> str:
    return reason_for(notification_type=notification.notification_type, metadata=notification.metadata or {})


def reason_for(*, notification_type: str, metadata: dict) -> str:
    why = metadata.get("why") or {}
    if notification_type == NotificationType.JOB_CREATED and "distance_km" in why:
        return distance_phrase(why["distance_km"], why["radius_km"]) + offer_shared_phrase(why)
    if notification_type == NotificationType.SYSTEM_ALERT:
        return ANNOUNCEMENT_AUDIENCES.get(metadata.get("audience"), "An announcement")
    return REASONS.get(notification_type, "")


def distance_phrase(distance_km: float, radius_km: float) -> str:
    """The per-cleaner part of an offer's reason; digits and ASCII only (the SSE frames splice it into JSON as is)."""
    return f"{distance_km:.1f} km from you, within your {radius_km:g} km"


def offer_shared_phrase(why: dict) -> str:
    """The part of an offer's reason that every cleaner of the job shares."""
    service = ServiceType(why["service"]).label if why["service"] in ServiceType.values else why["service"]
    weekday = Weekday(why["weekday"]).label if why["weekday"] in Weekday.values else why["weekday"]
    return f"; you offer {service}; {weekday} is one of your working days"


def has_per_recipient_reason(metadata: dict) -> bool:
    return "distance_km" in ((metadata or {}).get("why") or {})


def offer_reason_for(*, user, job_id: int) -> str | None:
    """Why `user` was offered this job (their own job_created notification for it), if they were."""
    offer = (
        Notification.objects.filter(recipient_id=user.pk, job_id=job_id, notification_type=NotificationType.JOB_CREATED)
        .only("notification_type", "metadata")
        .first()
    )
    return None if offer is None else reason_text(offer)
