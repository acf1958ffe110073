"""Without Redis there is no Celery beat: the web process runs the beat schedule itself.

The embedded default (`make run`: SQLite, tasks in-process) would otherwise never re-send a
stale outbox event, send a delayed email or push, remind anyone or purge old rows. One thread
runs each CELERY_BEAT_SCHEDULE entry when it is due, the way beat would, in this process (tasks
are eager here). Started and stopped by the ASGI lifespan (project/asgi.py); with REDIS_URL set
the real beat does this and the thread is not started.
"""

from __future__ import annotations

import logging
import threading

from celery.schedules import maybe_schedule
from django.conf import settings
from django.db import connections
from django.utils import timezone

logger = logging.getLogger(__name__)


class EmbeddedBeat:
    def __init__(self, schedule: dict, *, tick_seconds: float = 1.0):
        self.entries = {name: maybe_schedule(entry["schedule"]) for name, entry in schedule.items()}
        self.tasks = {name: entry["task"] for name, entry in schedule.items()}
        self.tick_seconds = tick_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="embedded-beat", daemon=True)

    def start(self) -> "EmbeddedBeat":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        from celery_app import app

        app.loader.import_default_modules()  # the tasks modules the worker would autodiscover
        started = timezone.now()
        last_run = dict.fromkeys(self.entries, started)  # as beat does: the first run one interval after start
        while not self._stop.wait(self.tick_seconds):
            for name, schedule in self.entries.items():
                if self._stop.is_set():
                    break
                due, _ = schedule.is_due(last_run[name])
                if not due:
                    continue
                last_run[name] = timezone.now()
                try:
                    app.tasks[self.tasks[name]].apply(throw=True)
                except Exception:  # noqa: BLE001 - logged; the next tick runs it again, like beat would
                    logger.exception("Embedded beat: %s failed", self.tasks[name])
                finally:
                    connections.close_all()


def start_if_embedded() -> EmbeddedBeat | None:
    """The thread, started, when there is no broker (no REDIS_URL); else None."""
    if settings.REDIS_URL:
        return None
    return EmbeddedBeat(settings.CELERY_BEAT_SCHEDULE).start()
