"""The Celery app: Redis broker, JSON only, at-least-once delivery.

Settings come from Django settings prefixed CELERY_ (see project/settings.py).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("marketplace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
