"""The Celery app: Redis broker, JSON only, at-least-once delivery.

Settings come from Django settings prefixed CELERY_ (see project/settings.py).
"""

import os

from celery import Celery
from celery.signals import (
    after_setup_logger, after_setup_task_logger, task_postrun, task_prerun, worker_init, worker_process_init,
    worker_process_shutdown, worker_ready,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("marketplace")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Read by Celery's Django fixup, not a Celery setting (so not in settings.py): without it the
# fixup closes each pool process's connection pool after every task (a fresh PostgreSQL session
# per task). hand_back_database_connection below hands the connection back instead; the fixup
# still starts each pool process with no inherited connection, and closes the pool every
# 2 x this many tasks.
app.conf.update(CELERY_DB_REUSE_MAX=1000)
app.autodiscover_tasks()


# Imports from the project stay inside these functions: the project package imports this module.


@app.on_configure.connect
def refuse_to_start_on_bad_settings(sender, **kwargs):
    # Celery reads the settings lazily, deep inside its start-up: load them first, so a bad
    # value stops `celery worker/beat/flower` with one line (project/env.py).
    from project.env import load_settings_or_exit

    load_settings_or_exit()


@after_setup_logger.connect
@after_setup_task_logger.connect
def mask_url_passwords_in_worker_logs(logger, **kwargs):
    # A worker replaces the root handlers (settings.LOGGING) with its own: mask on those too.
    from project.redaction import MaskUrlPasswords

    for handler in logger.handlers:
        handler.addFilter(MaskUrlPasswords())


@worker_init.connect
def warm_up_before_forking(sender, **kwargs):
    # The pool processes inherit the imports and the URL map; each opens its own connections.
    from project.warmup import worker_warm

    worker_warm()
    # Connected here, not at import: Celery's Django fixup connects its own handler, which
    # closes every inherited connection and pool, in its worker_init handler; this one runs
    # after it, so the connections opened here are the pool process's own and stay open.
    worker_process_init.connect(connect_pool_process, weak=False)


def connect_pool_process(**kwargs):
    from project.warmup import worker_process_connect

    worker_process_connect()


@worker_ready.connect
def serve_worker_metrics(sender, **kwargs):
    # In the main process, once the pool is up: METRICS_WORKER_PORT (unset: off).
    from project.metrics_server import worker_metrics_serve

    worker_metrics_serve()


@worker_process_shutdown.connect
def forget_pool_child_metrics(pid, **kwargs):
    from project.metrics_server import worker_process_exited

    worker_process_exited(pid)


@task_prerun.connect
@task_postrun.connect
def hand_back_database_connection(task, **kwargs):
    # As Django does around a request: a connection that broke or is in a bad state is closed, a
    # good one goes back to the pool (db_reuse_max above). Not for eager tasks: they
    # run inside the caller's request or transaction.
    if getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
