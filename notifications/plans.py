"""What each domain event means: who gets it, with which words, linking where.

A plan is built from the event's ids by re-reading the world, so a task that runs
late acts on the present (a job no longer open sends no offers). Returning None
means "nothing to send any more".
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from jobs.models import BidStatus, CleaningJob, JobBid, JobMessage, JobStatus, Payment
from jobs.selectors import cleaners_eligible_for_job

from .catalog import NotificationType
from .selectors import recipients_not_muting

User = get_user_model()

MESSAGE_PREVIEW_CHARS = 140


@dataclass
class DeliveryPlan:
    recipients: QuerySet  # of users, before preferences are applied
    context: dict  # plain values only: what the template may print
    action_url: str = ""
    job_id: int | None = None
    metadata: dict = field(default_factory=dict)


def user_display_name(user) -> str:
    return user.get_full_name() or user.username


def format_money(amount: Decimal) -> str:
    return f"€{amount:,.2f}"


def format_when(moment) -> str:
    return timezone.localtime(moment).strftime("%a %d %b, %H:%M")


def job_context(job: CleaningJob) -> dict:
    return {
        "job_title": job.title,
        "job_city": job.city,
        "service_type": job.get_service_type_display(),
        "scheduled_start": format_when(job.scheduled_start),
        "budget": format_money(job.budget),
        "client_name": user_display_name(job.client),
    }


def job_url(job_id: int) -> str:
    return f"/jobs/{job_id}/"


def _users(*ids) -> QuerySet:
    return User.objects.filter(pk__in=[i for i in ids if i is not None], is_active=True).order_by("pk")


def _job(job_id: int, *, share_lock: bool = False) -> CleaningJob | None:
    """Re-read a job; with share_lock, its status cannot change until we commit."""
    jobs = CleaningJob.objects.select_related("client", "assigned_cleaner")
    if share_lock and connection.vendor == "postgresql" and transaction.get_connection().in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {CleaningJob._meta.db_table} WHERE id = %s FOR SHARE", [job_id])
    return jobs.filter(pk=job_id).first()


def _bid(bid_id: int) -> JobBid | None:
    return JobBid.objects.select_related("job__client", "cleaner").filter(pk=bid_id).first()


# --- one builder per type -------------------------------------------------------


def plan_job_created(payload: dict) -> DeliveryPlan | None:
    # The share lock stops the job being accepted halfway through inserting its offers,
    # so the expiry that follows an accept always sees every offer.
    job = _job(payload["job_id"], share_lock=True)
    if job is None or job.status != JobStatus.OPEN or job.scheduled_start <= timezone.now():
        return None
    return DeliveryPlan(
        recipients=cleaners_eligible_for_job(job=job),
        context=job_context(job),
        action_url=job_url(job.pk),
        job_id=job.pk,
        metadata={"job_id": job.pk},
    )


def plan_bid_received(payload: dict) -> DeliveryPlan | None:
    bid = _bid(payload["bid_id"])
    if bid is None:
        return None
    return DeliveryPlan(
        recipients=_users(bid.job.client_id),
        context=job_context(bid.job) | {"cleaner_name": user_display_name(bid.cleaner), "bid_amount": format_money(bid.amount)},
        action_url=job_url(bid.job_id),
        job_id=bid.job_id,
        metadata={"job_id": bid.job_id, "bid_id": bid.pk},
    )


def plan_bid_accepted(payload: dict) -> DeliveryPlan | None:
    bid = _bid(payload["bid_id"])
    if bid is None or bid.status != BidStatus.ACCEPTED:
        return None
    return DeliveryPlan(
        recipients=_users(bid.cleaner_id),
        context=job_context(bid.job) | {"bid_amount": format_money(bid.amount)},
        action_url=job_url(bid.job_id),
        job_id=bid.job_id,
        metadata={"job_id": bid.job_id, "bid_id": bid.pk},
    )


def _rejection_reason(bid: JobBid) -> str:
    if bid.job.status == JobStatus.CANCELLED:
        return "The client cancelled the job."
    if bid.job.assigned_cleaner_id and bid.job.assigned_cleaner_id != bid.cleaner_id:
        return "The client chose another offer."
    return "The client declined your bid."


def plan_bid_rejected(payload: dict) -> DeliveryPlan | None:
    bid = _bid(payload["bid_id"])
    if bid is None or bid.status != BidStatus.REJECTED:
        return None
    return DeliveryPlan(
        recipients=_users(bid.cleaner_id),
        context=job_context(bid.job) | {"bid_amount": format_money(bid.amount), "reason": _rejection_reason(bid)},
        action_url=job_url(bid.job_id),
        job_id=bid.job_id,
        metadata={"job_id": bid.job_id, "bid_id": bid.pk},
    )


def _plan_for_client(payload: dict, *, status: str, with_bid: bool = False) -> DeliveryPlan | None:
    job = _job(payload["job_id"])
    if job is None or job.assigned_cleaner is None:
        return None
    context = job_context(job) | {"cleaner_name": user_display_name(job.assigned_cleaner)}
    if with_bid:
        accepted = JobBid.objects.filter(job_id=job.pk, status=BidStatus.ACCEPTED).first()
        context["bid_amount"] = format_money(accepted.amount if accepted else job.budget)
    return DeliveryPlan(
        recipients=_users(job.client_id),
        context=context,
        action_url=job_url(job.pk),
        job_id=job.pk,
        metadata={"job_id": job.pk, "status": status},
    )


def plan_job_accepted(payload: dict) -> DeliveryPlan | None:
    return _plan_for_client(payload, status=JobStatus.ASSIGNED, with_bid=True)


def plan_job_started(payload: dict) -> DeliveryPlan | None:
    return _plan_for_client(payload, status=JobStatus.IN_PROGRESS)


def plan_job_completed(payload: dict) -> DeliveryPlan | None:
    return _plan_for_client(payload, status=JobStatus.COMPLETED)


def plan_job_cancelled(payload: dict) -> DeliveryPlan | None:
    job = _job(payload["job_id"])
    if job is None:
        return None
    return DeliveryPlan(
        # Who was involved at the moment of cancelling was captured in the payload.
        recipients=_users(*payload.get("cleaner_ids", [])),
        context=job_context(job),
        action_url=job_url(job.pk),
        job_id=job.pk,
        metadata={"job_id": job.pk, "status": JobStatus.CANCELLED},
    )


def plan_payment_received(payload: dict) -> DeliveryPlan | None:
    payment = Payment.objects.select_related("job__client").filter(pk=payload["payment_id"]).first()
    if payment is None:
        return None
    return DeliveryPlan(
        recipients=_users(payment.payee_id),
        context=job_context(payment.job) | {"amount": format_money(payment.amount)},
        action_url=job_url(payment.job_id),
        job_id=payment.job_id,
        metadata={"job_id": payment.job_id, "payment_id": payment.pk},
    )


def plan_message_received(payload: dict) -> DeliveryPlan | None:
    message = JobMessage.objects.select_related("job__client", "sender").filter(pk=payload["message_id"]).first()
    if message is None:
        return None
    preview = message.body if len(message.body) <= MESSAGE_PREVIEW_CHARS else message.body[: MESSAGE_PREVIEW_CHARS - 1] + "…"
    return DeliveryPlan(
        recipients=_users(message.recipient_id),
        context=job_context(message.job) | {"sender_name": user_display_name(message.sender), "message_preview": preview},
        action_url=job_url(message.job_id) + "#messages",
        job_id=message.job_id,
        metadata={"job_id": message.job_id, "message_id": message.pk},
    )


AUDIENCES = ("all", "cleaners", "clients")


def announcement_audience(audience: str) -> QuerySet:
    users = User.objects.filter(is_active=True)
    if audience == "cleaners":
        users = users.filter(cleaner_profile__isnull=False)
    elif audience == "clients":
        users = users.filter(cleaner_profile__isnull=True)
    return users.order_by("pk")


def plan_system_alert(payload: dict) -> DeliveryPlan | None:
    return DeliveryPlan(
        recipients=announcement_audience(payload["audience"]),
        context={"title": payload["title"], "message": payload["message"]},
        action_url="/notifications/",
        metadata={"audience": payload["audience"]},
    )


def plan_reminder(payload: dict) -> DeliveryPlan | None:
    job = _job(payload["job_id"])
    if job is None or job.status != JobStatus.ASSIGNED or job.scheduled_start <= timezone.now():
        return None
    return DeliveryPlan(
        recipients=_users(job.client_id, job.assigned_cleaner_id),
        context=job_context(job) | {"cleaner_name": user_display_name(job.assigned_cleaner)},
        action_url=job_url(job.pk),
        job_id=job.pk,
        metadata={"job_id": job.pk},
    )


PLAN_BUILDERS: dict[str, Callable[[dict], DeliveryPlan | None]] = {
    NotificationType.JOB_CREATED: plan_job_created,
    NotificationType.BID_RECEIVED: plan_bid_received,
    NotificationType.BID_ACCEPTED: plan_bid_accepted,
    NotificationType.BID_REJECTED: plan_bid_rejected,
    NotificationType.JOB_ACCEPTED: plan_job_accepted,
    NotificationType.JOB_STARTED: plan_job_started,
    NotificationType.JOB_COMPLETED: plan_job_completed,
    NotificationType.JOB_CANCELLED: plan_job_cancelled,
    NotificationType.PAYMENT_RECEIVED: plan_payment_received,
    NotificationType.MESSAGE_RECEIVED: plan_message_received,
    NotificationType.SYSTEM_ALERT: plan_system_alert,
    NotificationType.REMINDER: plan_reminder,
}
assert set(PLAN_BUILDERS) == set(NotificationType.values), "every notification type needs a plan"


def delivery_plan_for(*, event_type: str, payload: dict) -> DeliveryPlan | None:
    plan = PLAN_BUILDERS[event_type](payload)
    if plan is not None:
        plan.recipients = recipients_not_muting(plan.recipients, notification_type=event_type)
    return plan
