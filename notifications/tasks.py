"""The Celery tasks of notifications, as the worker finds them (Celery autodiscovers this module).

Each outbox task lives next to the operation it runs and has its name
(notifications/outbox/): notifications.outbox_event_dispatch, .outbox_chunk_deliver,
.outbox_requeue_stale. Tasks take ids, are idempotent, and retry transient errors.
"""

from celery import shared_task

from . import services
from .channels.digests import channel_digests_send_task
from .channels.dispatching import channel_deliveries_dispatch_due_task, channel_deliveries_send_task
from .outbox.delivery import outbox_chunk_deliver, outbox_chunk_deliver_task
from .outbox.dispatch import outbox_event_dispatch, outbox_event_dispatch_task
from .outbox.failures import RETRY_TRANSIENT
from .outbox.sweeping import outbox_requeue_stale, outbox_requeue_stale_task
from .partitions import partitions_maintain
from .personal_data import account_deletions_resend, account_purge_task
from .retention import retention_purge_task

__all__ = ["outbox_event_dispatch_task", "outbox_chunk_deliver_task", "outbox_requeue_stale_task", "reminders_schedule_due_task",
           "retention_purge_task", "partitions_maintain_task", "account_purge_task", "account_deletions_resend_task",
           "channel_deliveries_dispatch_due_task", "channel_deliveries_send_task", "channel_digests_send_task"]


@shared_task(name="notifications.reminders_schedule_due", **RETRY_TRANSIENT)
def reminders_schedule_due_task() -> int:
    return services.reminders_schedule_due()


@shared_task(name="notifications.partitions_maintain", **RETRY_TRANSIENT)
def partitions_maintain_task() -> dict[str, list[str]]:
    return partitions_maintain()


@shared_task(name="notifications.account_deletions_resend", **RETRY_TRANSIENT)
def account_deletions_resend_task() -> int:
    return account_deletions_resend()


# --- old names: remove in the release after the one that renamed them ------------
# Messages already queued at deploy time (and sent by beat or web processes still on
# the old code during the rollout) carry these names; the new workers still consume them.
# Their routes live in the old processes' settings, so none are needed here.


@shared_task(name="notifications.process_event", **RETRY_TRANSIENT)
def process_event_old_name(event_id: int) -> None:
    outbox_event_dispatch(event_id=event_id)


@shared_task(name="notifications.process_chunk", **RETRY_TRANSIENT)
def process_chunk_old_name(chunk_id: int) -> None:
    outbox_chunk_deliver(chunk_id=chunk_id)


@shared_task(name="notifications.requeue_stale_outbox", **RETRY_TRANSIENT)
def requeue_stale_outbox_old_name() -> dict:
    return outbox_requeue_stale()


@shared_task(name="notifications.schedule_due_reminders", **RETRY_TRANSIENT)
def schedule_due_reminders_old_name() -> int:
    return services.reminders_schedule_due()
