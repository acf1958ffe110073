"""Sending an outbox task to the broker: a broker outage only delays the work, never fails the caller."""

import logging

logger = logging.getLogger(__name__)


def enqueue(task, object_id: int) -> None:
    """Send a task; if the broker is down the row stays pending and the sweeper sends it later."""
    try:
        task.delay(object_id)
    except Exception:  # noqa: BLE001 - any broker failure; the row stays pending
        logger.warning("Could not enqueue %s(%s); the outbox sweeper will retry.", task.name, object_id, exc_info=True)
