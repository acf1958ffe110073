"""Retention: removing notifications past their type's rule (notifications/catalog.py), a little at a time.

The purge walks the table by primary key in windows of RETENTION_BATCH_IDS ids, from the
oldest row up to the first row too young for any rule, deleting the rows of each window
that are due; each window is one short transaction (row locks on at most that many rows,
taken with SKIP LOCKED so a row being marked read is left for the next lap), with a pause
between windows. A run stops after RETENTION_RUN_SECONDS and the next one resumes where it
stopped (RetentionRun.next_id), so a lap reads the old part of the table once, whatever its
size, and each rule is checked against the row's current state (no rule can miss a row
that became due late, e.g. an offer retracted weeks after it was sent).

Deletes go through the ORM, so whatever cascades from a notification (delivery rows of
other channels) goes with it in the same transaction. The SSE replay goes by seq and
tolerates the holes this leaves (notifications/sse/opening.py).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from . import metrics
from .catalog import retention_expired_days, retention_rules
from .models import Notification, RetentionRun
from .outbox.failures import RETRY_TRANSIENT


def retention_due(*, now: datetime) -> Q:
    """The rows past their rule at `now`, as one filter (grouped by rule, so a few clauses)."""
    due = Q(expired_at__lt=now - timedelta(days=retention_expired_days()))
    by_rule: dict = {}
    for notification_type, rule in retention_rules().items():
        by_rule.setdefault(rule, []).append(notification_type)
    for rule, types in by_rule.items():
        read_before = now - timedelta(days=rule.read_days)
        read_due = Q(read_at__lt=read_before) | Q(read_at__isnull=True, created_at__lt=read_before)
        too_old = Q(created_at__lt=now - timedelta(days=rule.unread_days))  # read or not: the most any row lives
        due |= Q(notification_type__in=types) & ((Q(is_read=True) & read_due) | too_old)
    return due


def retention_horizon(*, now: datetime) -> datetime:
    """Rows created after this are too young for every rule (read_at and expired_at come after created_at)."""
    shortest = min(
        [retention_expired_days()] + [min(r.read_days, r.unread_days) for r in retention_rules().values()]
    )
    return now - timedelta(days=shortest)


def retention_purge(
    *, budget_seconds: float | None = None, batch_ids: int | None = None, pause_seconds: float | None = None
) -> RetentionRun:
    """One run: delete due rows window by window until caught up or out of time; record it."""
    budget = settings.RETENTION_RUN_SECONDS if budget_seconds is None else budget_seconds
    window = batch_ids or settings.RETENTION_BATCH_IDS
    pause = settings.RETENTION_PAUSE_SECONDS if pause_seconds is None else pause_seconds
    started = time.monotonic()
    previous = RetentionRun.objects.exclude(finished_at=None).order_by("-id").first()
    oldest = Notification.objects.aggregate(oldest=Min("id"))["oldest"] or 0
    cursor = max(previous.next_id if previous else 0, oldest)
    run = RetentionRun.objects.create(first_id=cursor, next_id=cursor)
    deleted: Counter = Counter()
    stopped_because = "time_budget"
    while True:
        now = timezone.now()
        first = Notification.objects.filter(pk__gte=cursor).order_by("pk").values_list("pk", "created_at").first()
        if first is None or first[1] >= retention_horizon(now=now):
            stopped_because, cursor = "caught_up", 0
            break
        cursor = first[0]
        removed = _purge_window(low=cursor, high=cursor + window, now=now)
        deleted.update(removed)
        run.batches += 1
        cursor += window
        if time.monotonic() - started >= budget:
            break
        if pause:
            time.sleep(pause)
    run.next_id = cursor
    run.deleted = sum(deleted.values())
    run.deleted_by_type = dict(sorted(deleted.items()))
    run.stopped_because = stopped_because
    run.finished_at = timezone.now()
    run.save()
    return run


def _purge_window(*, low: int, high: int, now: datetime) -> Counter:
    """Delete the due rows with ids in [low, high): one short transaction; {type: rows deleted}."""
    with transaction.atomic():
        due = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk__gte=low, pk__lt=high)
            .filter(retention_due(now=now))
            .values_list("pk", "notification_type")
        )
        if not due:
            return Counter()
        Notification.objects.filter(pk__in=[pk for pk, _ in due]).delete()
        removed = Counter(notification_type for _, notification_type in due)
        transaction.on_commit(lambda: metrics.retention_deleted(removed))
    return removed


@shared_task(name="notifications.retention_purge", **RETRY_TRANSIENT)
def retention_purge_task() -> int:
    return retention_purge().deleted
