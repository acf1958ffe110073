"""What each domain event means: who gets it, with which words, linking where.

A plan is built from the event's ids by re-reading the world, so a task that runs
late acts on the present (a job no longer open sends no offers). Returning None
means "nothing to send any more". A plan is its audience (who: one lazy SQL query)
and its content (what they read, where it links); the offers an event retracts are
stated at the end (RETRACTS_JOB_OFFERS). The pipeline that acts on plans is
notifications/outbox/.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from jobs.compiled import CompiledQuery
from jobs.models import BidStatus, CleaningJob, JobBid, JobMessage, JobStatus, Payment, Weekday, user_display_name
from jobs.money import format_money
from jobs.selectors import cleaners_eligible_for_job, job_local_date, job_price

from .catalog import NotificationType, group_key_for
from .selectors import recipients_not_muting

User = get_user_model()

MESSAGE_PREVIEW_CHARS = 140


@dataclass(frozen=True)
class Content:
    """What every recipient of one event reads and where it links: the same for the whole audience."""

    context: dict  # plain values only: what the template may print
    action_url: str
    job_id: int | None = None
    metadata: dict = field(default_factory=dict)
    # (latitude, longitude): the insert adds each recipient's distance to it, and their
    # radius, to metadata["why"] in its own SQL (the rest of "why" is shared).
    why_distance_from: tuple[float, float] | None = None
    # Notifications sharing it show as one entry (catalog.GROUP_KEYS); set by delivery_plan_for.
    group_key: str | None = None


@dataclass(frozen=True)
class NamedUsers:
    """An audience the event names by id (a bid's client, a message's recipient): `_users(*ids)`
    less those muting `notification_type`, resolved by a query compiled once per type and
    number of ids (jobs/compiled.py): building it cost more CPU than running it."""

    ids: tuple[int, ...]
    notification_type: str | None = None  # set by delivery_plan_for: None leaves mutes out

    def recipient_ids(self) -> list[int]:
        if not self.ids:
            return []  # as the ORM does for an empty IN: no query
        return _named_users_query(self.notification_type).flat({"ids": self.ids})


@cache
def _named_users_query(notification_type: str | None) -> CompiledQuery:
    # The type is a constant of each query, not an input: recipients_not_muting branches on it.
    def build(values: dict) -> QuerySet:
        users = _users(*values["ids"])
        if notification_type is not None:
            users = recipients_not_muting(users, notification_type=notification_type)
        return users.order_by("pk").values_list("pk", flat=True)

    return CompiledQuery(build)


@dataclass(frozen=True)
class DeliveryPlan:
    audience: QuerySet | NamedUsers  # of users: a lazy query, run once per event, by the dispatch (audience_ids)
    content: Content


def audience_ids(audience: QuerySet | NamedUsers) -> list[int]:
    """The audience's user ids in id order: the one query that resolves it (mutes included)."""
    if isinstance(audience, NamedUsers):
        return audience.recipient_ids()
    return list(audience.order_by("pk").values_list("pk", flat=True))


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


def job_url(job_id: int, anchor: str = "") -> str:
    return reverse("jobs:detail", args=[job_id]) + anchor


def about_job(job: CleaningJob, *, context: dict | None = None, anchor: str = "", **metadata) -> Content:
    """The content of every job-related type: the job's values (plus extra ones), a link to it, its id."""
    return Content(
        context=job_context(job) | (context or {}),
        action_url=job_url(job.pk, anchor),
        job_id=job.pk,
        metadata={"job_id": job.pk, **metadata},
    )


def _users(*ids) -> QuerySet:
    return User.objects.filter(pk__in=[i for i in ids if i is not None], is_active=True).order_by("pk")


def _named(*ids) -> NamedUsers:
    """The one or two people an event names: _users(*ids), its query compiled (NamedUsers)."""
    return NamedUsers(ids=tuple(int(i) for i in ids if i is not None))


def _job(job_id: int, *, share_lock: bool = False) -> CleaningJob | None:
    """Re-read a job; with share_lock, its status cannot change until we commit."""
    jobs = CleaningJob.objects.select_related("client", "assigned_cleaner")
    if share_lock and connection.vendor == "postgresql" and transaction.get_connection().in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {CleaningJob._meta.db_table} WHERE id = %s FOR SHARE", [job_id])
    return jobs.filter(pk=job_id).first()


# Every bid's event reads its bid: building this select_related query was the worker's biggest
# share of CPU per event, so it is compiled once per process (jobs/compiled.py). By primary
# key, unordered: an ORDER BY for at most one row would be work for nothing.
_bid_with_people = CompiledQuery(
    lambda values: JobBid.objects.select_related("job__client", "cleaner").filter(pk=values["bid_id"]).order_by()
)


def named_queries_prepare() -> None:
    """Compile and prepare the worker's reads of named rows before its first event (project/warmup.py):
    the bid, and each type's audience of one named user (a bid's client, a message's recipient)."""
    _bid_with_people.prepare({"bid_id": 0})
    for notification_type in NotificationType:
        _named_users_query(str(notification_type)).prepare({"ids": (0,)})


def _bid(bid_id: int) -> JobBid | None:
    return _bid_with_people.first({"bid_id": int(bid_id)})


# --- one builder per type: who (audience) and what (content) ---------------------


def _job_open_for_offers(job_id: int) -> CleaningJob | None:
    # The share lock stops the job being accepted halfway through inserting its offers,
    # so the retraction that follows an accept always sees every offer.
    job = _job(job_id, share_lock=True)
    if job is None or job.status != JobStatus.OPEN or job.scheduled_start <= timezone.now():
        return None
    return job


def plan_job_created(payload: dict) -> DeliveryPlan | None:
    job = _job_open_for_offers(payload["job_id"])
    if job is None:
        return None
    # Why each cleaner matched: the service and weekday are the audience's own filter, the
    # same for all; the distance and radius are per cleaner, added by the insert.
    why = {"service": job.service_type, "weekday": Weekday.values[job_local_date(job=job).weekday()]}
    content = replace(about_job(job, why=why), why_distance_from=(job.latitude, job.longitude))
    return DeliveryPlan(cleaners_eligible_for_job(job=job), content)


def plan_bid_received(payload: dict) -> DeliveryPlan | None:
    bid = _bid(payload["bid_id"])
    if bid is None:
        return None
    context = {"cleaner_name": user_display_name(bid.cleaner), "bid_amount": format_money(bid.amount)}
    # The amount as a number too: a group of bids sums up their range (notifications.grouping).
    content = about_job(bid.job, context=context, bid_id=bid.pk, amount=str(bid.amount))
    return DeliveryPlan(_named(bid.job.client_id), content)


def plan_bid_accepted(payload: dict) -> DeliveryPlan | None:
    bid = _bid(payload["bid_id"])
    if bid is None or bid.status != BidStatus.ACCEPTED:
        return None
    context = {"bid_amount": format_money(bid.amount)}
    return DeliveryPlan(_named(bid.cleaner_id), about_job(bid.job, context=context, bid_id=bid.pk))


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
    context = {"bid_amount": format_money(bid.amount), "reason": _rejection_reason(bid)}
    return DeliveryPlan(_named(bid.cleaner_id), about_job(bid.job, context=context, bid_id=bid.pk))


def _plan_for_client(payload: dict, *, status: str, with_bid: bool = False) -> DeliveryPlan | None:
    job = _job(payload["job_id"])
    if job is None or job.assigned_cleaner is None:
        return None
    context = {"cleaner_name": user_display_name(job.assigned_cleaner)}
    if with_bid:
        context["bid_amount"] = format_money(job_price(job=job))
    return DeliveryPlan(_named(job.client_id), about_job(job, context=context, status=status))


def plan_job_assigned(payload: dict) -> DeliveryPlan | None:
    return _plan_for_client(payload, status=JobStatus.ASSIGNED, with_bid=True)


def plan_job_started(payload: dict) -> DeliveryPlan | None:
    return _plan_for_client(payload, status=JobStatus.IN_PROGRESS)


def plan_job_completed(payload: dict) -> DeliveryPlan | None:
    return _plan_for_client(payload, status=JobStatus.COMPLETED)


def plan_job_cancelled(payload: dict) -> DeliveryPlan | None:
    job = _job(payload["job_id"])
    if job is None:
        return None
    # Who was involved at the moment of cancelling was captured in the payload. Built each time,
    # not named (NamedUsers): a job's bidders may be many, and each count would be a statement kept.
    audience = _users(*payload.get("cleaner_ids", []))
    return DeliveryPlan(audience, about_job(job, status=JobStatus.CANCELLED))


def plan_payment_received(payload: dict) -> DeliveryPlan | None:
    payment = Payment.objects.select_related("job__client").filter(pk=payload["payment_id"]).first()
    if payment is None:
        return None
    context = {"amount": format_money(payment.amount)}
    return DeliveryPlan(_named(payment.payee_id), about_job(payment.job, context=context, payment_id=payment.pk))


def plan_message_received(payload: dict) -> DeliveryPlan | None:
    message = JobMessage.objects.select_related("job__client", "sender").filter(pk=payload["message_id"]).first()
    if message is None:
        return None
    preview = message.body if len(message.body) <= MESSAGE_PREVIEW_CHARS else message.body[: MESSAGE_PREVIEW_CHARS - 1] + "…"
    context = {"sender_name": user_display_name(message.sender), "message_preview": preview}
    # The sender: a group of messages is one job's thread from one person (notifications.grouping).
    content = about_job(
        message.job, context=context, anchor="#messages", message_id=message.pk,
        sender_id=message.sender_id, sender_name=context["sender_name"],
    )
    return DeliveryPlan(_named(message.recipient_id), content)


AUDIENCES = ("all", "cleaners", "clients")


def announcement_audience(audience: str) -> QuerySet:
    users = User.objects.filter(is_active=True)
    if audience == "cleaners":
        users = users.filter(cleaner_profile__isnull=False)
    elif audience == "clients":
        users = users.filter(cleaner_profile__isnull=True)
    return users.order_by("pk")


def plan_system_alert(payload: dict) -> DeliveryPlan | None:
    content = Content(
        context={"title": payload["title"], "message": payload["message"]},
        action_url=reverse("notifications:list"),
        metadata={"audience": payload["audience"]},
    )
    return DeliveryPlan(announcement_audience(payload["audience"]), content)


def plan_reminder(payload: dict) -> DeliveryPlan | None:
    job = _job(payload["job_id"])
    if job is None or job.status != JobStatus.ASSIGNED or job.scheduled_start <= timezone.now():
        return None
    context = {"cleaner_name": user_display_name(job.assigned_cleaner)}
    return DeliveryPlan(_named(job.client_id, job.assigned_cleaner_id), about_job(job, context=context))


PLAN_BUILDERS: dict[str, Callable[[dict], DeliveryPlan | None]] = {
    NotificationType.JOB_CREATED: plan_job_created,
    NotificationType.BID_RECEIVED: plan_bid_received,
    NotificationType.BID_ACCEPTED: plan_bid_accepted,
    NotificationType.BID_REJECTED: plan_bid_rejected,
    NotificationType.JOB_ASSIGNED: plan_job_assigned,
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
    """The plan of one event, from the world as it is now; None: nothing to send any more.

    Build it once per run: its reads are the re-check (is the job still open?), and its
    audience is a lazy query that only the dispatch runs, with mutes applied in SQL.
    """
    plan = PLAN_BUILDERS[event_type](payload)
    if plan is None:
        return None
    content = replace(plan.content, group_key=group_key_for(event_type, plan.content.metadata))
    if isinstance(plan.audience, NamedUsers):
        audience = replace(plan.audience, notification_type=str(event_type))  # its query applies recipients_not_muting
    else:
        audience = recipients_not_muting(plan.audience, notification_type=event_type)
    return replace(plan, audience=audience, content=content)


def plan_still_current(*, event_type: str, payload: dict) -> bool:
    """The cheap re-check of a chunk delivered in the run that built its plan, in the chunk's
    own transaction. Only offers need one: a job taken since must get no offer, and the
    share lock must be held while they are inserted (see _job_open_for_offers). Every
    other type is as current as the plan built a moment ago; a chunk task run later
    builds the whole plan again instead.
    """
    if event_type == NotificationType.JOB_CREATED:
        return _job_open_for_offers(payload["job_id"]) is not None
    return True


# --- what an event retracts -----------------------------------------------------

# Once a job is taken or cancelled, the unread offers (job_created) of everyone who did
# not get it are retracted: expired, and removed from open pages. Whatever the event's
# own plan is (it may send nothing any more), its offers go.
RETRACTS_JOB_OFFERS = frozenset({NotificationType.JOB_ASSIGNED, NotificationType.JOB_CANCELLED})


def job_offers_retracted_by(*, event_type: str, payload: dict) -> int | None:
    """The job whose offers this event retracts, if any."""
    return payload["job_id"] if event_type in RETRACTS_JOB_OFFERS else None
