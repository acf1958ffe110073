"""A person's data: downloading their notifications, and deleting their account with everything it owns.

Deleting an account deactivates it at once (its streams are cut, the fan-out skips it:
notifications/outbox/delivery.py::_still_reachable_recipients_sql), then a task deletes its
notifications in batches of ACCOUNT_PURGE_BATCH (each a short transaction, cascading to
their delivery rows), then the user row (cascading to push subscriptions, preferences,
tokens, its own jobs). Beat re-sends unfinished deletions (notifications.account_deletions_resend),
so a broker outage at request time only delays one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

from asgiref.sync import sync_to_async
from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from rest_framework.authtoken.models import Token

from project.exceptions import InvalidInput

from .models import AccountDeletion, Notification
from .outbox.failures import RETRY_TRANSIENT
from .outbox.queueing import enqueue
from .sse import revocation

EXPORT_BATCH = 1000
EXPORT_FIELDS = (
    "id", "notification_type", "title", "message", "priority", "action_url", "metadata", "is_read", "read_at",
    "delivered_at", "seen_at", "clicked_at", "expired_at", "created_at",
)


# --- export ---------------------------------------------------------------------------


def notifications_export_filename(*, user) -> str:
    return f"notifications-{user.pk}-{timezone.now():%Y%m%d}.json"


def _export_batch(*, user_id: int, after_id: int) -> list[dict]:
    return list(
        Notification.objects.filter(recipient_id=user_id, pk__gt=after_id).order_by("pk").values(*EXPORT_FIELDS)[:EXPORT_BATCH]
    )


async def notifications_export_stream(*, user_id: int) -> AsyncIterator[str]:
    """Every one of the user's notifications (expired ones too), oldest first, as one JSON document.

    Asynchronous so the ASGI server streams it batch by batch (a synchronous iterator would be
    read whole into memory first); each batch is one keyset query (id > last) in a worker thread.
    """
    fetch = sync_to_async(_export_batch, thread_sensitive=True)
    header = json.dumps({"user_id": user_id, "exported_at": timezone.now()}, cls=DjangoJSONEncoder)
    yield header[:-1] + ', "notifications": ['
    after_id, separator = 0, ""
    while batch := await fetch(user_id=user_id, after_id=after_id):
        for row in batch:
            yield separator + "\n" + json.dumps(row, cls=DjangoJSONEncoder)
            separator = ","
        after_id = batch[-1]["id"]
    yield "\n]}\n"


# --- account deletion ---------------------------------------------------------------------


@transaction.atomic
def account_delete_request(*, user, password: str) -> AccountDeletion:
    """Check the password, deactivate the account now, and have a task remove its data."""
    if not password or not user.check_password(password):
        raise InvalidInput("That is not your password.", field="password")
    User = get_user_model()
    # update(), not save(): nothing else about the user changes, and no save signal needs to run.
    User.objects.filter(pk=user.pk).update(is_active=False)
    Token.objects.filter(user_id=user.pk).delete()  # its signal closes the token streams
    deletion, _ = AccountDeletion.objects.get_or_create(user_id=user.pk)
    transaction.on_commit(lambda: revocation.disconnect_user(user_id=user.pk))
    transaction.on_commit(lambda: enqueue(account_purge_task, user.pk))
    return deletion


def account_purge(*, user_id: int, batch: int | None = None) -> AccountDeletion | None:
    """Delete an account whose deletion was requested: its notifications in batches, then the user.

    Idempotent: a run after a crash goes on where the last one stopped.
    """
    batch = batch or settings.ACCOUNT_PURGE_BATCH
    deletion = AccountDeletion.objects.filter(user_id=user_id, finished_at=None).first()
    if deletion is None:
        return None
    User = get_user_model()
    if User.objects.filter(pk=user_id, is_active=True).exists():
        return None  # reactivated by staff since: they decided to keep it
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(Notification.objects.filter(recipient_id=user_id).order_by("pk").values_list("pk", flat=True)[:batch])
            if not ids:
                break
            Notification.objects.filter(pk__in=ids).delete()  # cascades to their delivery rows
            deleted += len(ids)
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        outcome = "deleted"
        if user is not None:
            try:
                with transaction.atomic():
                    user.delete()
            except ProtectedError:
                # Payments are financial records: keep the row they point at, stripped of the person.
                outcome = "anonymized"
                user.username, user.email, user.first_name, user.last_name = f"deleted-{user_id}", "", "", ""
                user.set_unusable_password()
                user.save(update_fields=["username", "email", "first_name", "last_name", "password"])
        AccountDeletion.objects.filter(pk=deletion.pk).update(
            finished_at=timezone.now(), outcome=outcome, notifications_deleted=deletion.notifications_deleted + deleted
        )
    deletion.refresh_from_db()
    return deletion


@shared_task(name="notifications.account_purge", **RETRY_TRANSIENT)
def account_purge_task(user_id: int) -> int:
    deletion = account_purge(user_id=user_id)
    return deletion.notifications_deleted if deletion else 0


# Unfinished deletions older than this are sent again by the retention beat.
ACCOUNT_PURGE_GRACE = timedelta(minutes=5)


def account_deletions_resend() -> int:
    """Beat: re-send deletions still unfinished after the grace period (a lost message, a crash)."""
    stale = list(
        AccountDeletion.objects.filter(finished_at=None, requested_at__lt=timezone.now() - ACCOUNT_PURGE_GRACE)
        .values_list("user_id", flat=True)[:100]
    )
    for user_id in stale:
        enqueue(account_purge_task, user_id)
    return len(stale)
