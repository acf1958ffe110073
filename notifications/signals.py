"""Thin receivers: turn marketplace saves into outbox rows, and cut off streams.

Each receiver records ids only, inside the saving transaction; the outbox service
enqueues the Celery task once that transaction commits.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.dispatch import receiver

from jobs.models import BidStatus, CleaningJob, JobBid, JobMessage, JobStatus, Payment, PaymentStatus

from .sse import revocation
from .catalog import NotificationType
from .selectors import job_cancellation_recipient_ids
from .outbox.recording import outbox_record

JOB_STATUS_EVENTS = {
    JobStatus.ASSIGNED: NotificationType.JOB_ASSIGNED,
    JobStatus.IN_PROGRESS: NotificationType.JOB_STARTED,
    JobStatus.COMPLETED: NotificationType.JOB_COMPLETED,
    JobStatus.CANCELLED: NotificationType.JOB_CANCELLED,
}
BID_STATUS_EVENTS = {
    BidStatus.ACCEPTED: NotificationType.BID_ACCEPTED,
    BidStatus.REJECTED: NotificationType.BID_REJECTED,
}


@receiver(post_save, sender=CleaningJob, dispatch_uid="notifications.job_saved")
def job_saved(sender, instance: CleaningJob, created: bool, raw: bool = False, **kwargs):
    if raw:
        return
    if created:
        if instance.status == JobStatus.OPEN:
            outbox_record(event_type=NotificationType.JOB_CREATED, payload={"job_id": instance.pk})
    elif instance.status_changed and instance.status in JOB_STATUS_EVENTS:
        payload = {"job_id": instance.pk}
        if instance.status == JobStatus.CANCELLED:
            # Bids are rejected right after this save: capture who was involved now.
            payload["cleaner_ids"] = job_cancellation_recipient_ids(job=instance)
        outbox_record(event_type=JOB_STATUS_EVENTS[instance.status], payload=payload)
    instance.mark_status_seen()


@receiver(post_save, sender=JobBid, dispatch_uid="notifications.bid_saved")
def bid_saved(sender, instance: JobBid, created: bool, raw: bool = False, **kwargs):
    if raw:
        return
    if created:
        outbox_record(event_type=NotificationType.BID_RECEIVED, payload={"bid_id": instance.pk})
    elif instance.status_changed and instance.status in BID_STATUS_EVENTS:
        outbox_record(event_type=BID_STATUS_EVENTS[instance.status], payload={"bid_id": instance.pk})
    instance.mark_status_seen()


@receiver(post_save, sender=Payment, dispatch_uid="notifications.payment_saved")
def payment_saved(sender, instance: Payment, created: bool, raw: bool = False, **kwargs):
    if raw:
        return
    if instance.status == PaymentStatus.SUCCEEDED and (created or instance.status_changed):
        outbox_record(event_type=NotificationType.PAYMENT_RECEIVED, payload={"payment_id": instance.pk})
    instance.mark_status_seen()


@receiver(post_save, sender=JobMessage, dispatch_uid="notifications.message_saved")
def message_saved(sender, instance: JobMessage, created: bool, raw: bool = False, **kwargs):
    if created and not raw:
        outbox_record(event_type=NotificationType.MESSAGE_RECEIVED, payload={"message_id": instance.pk})


@receiver(post_save, sender=get_user_model(), dispatch_uid="notifications.user_saved")
def user_saved(sender, instance, created: bool, raw: bool = False, **kwargs):
    if not created and not raw and not instance.is_active:
        revocation.disconnect_user(user_id=instance.pk)


@receiver(user_logged_out, dispatch_uid="notifications.user_logged_out")
def user_logged_out_streams(sender, request, user, **kwargs):
    if user is not None:
        revocation.disconnect_user(user_id=user.pk, session_key=request.session.session_key)
