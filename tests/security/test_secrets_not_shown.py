"""Passwords inside URLs (the database, Redis, the broker, Pushpin) are never shown.

Not on Django's debug error page (DEBUG on lists the settings, the request and every
frame's local variables), not in the log (the root handler's output, and a Celery
worker's, which replaces the root handlers with its own).
"""

import io
import logging
import os
import subprocess
import sys

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import path

from tests.test_settings import ROOT

PASSWORD = "s3cret-pw"
REDIS_WITH_PASSWORD = f"redis://default:{PASSWORD}@10.0.0.5:6379/0"
DATABASE_WITH_PASSWORD = f"postgres://app:{PASSWORD}@db.internal:5432/marketplace"


def failing_view(request):
    broker = f"rediss://:{PASSWORD}@broker.internal:6380/0"  # a local variable of the failing frame
    options = {"location": REDIS_WITH_PASSWORD}  # noqa: F841 - shown on the page, masked
    raise ConnectionError(f"cannot reach {broker}")


def ok_view(request):
    return HttpResponse("ok")


urlpatterns = [path("boom/", failing_view), path("ok/", ok_view)]


@pytest.fixture
def debug_with_passwords_in_settings(settings):
    settings.DEBUG = True
    settings.DATABASE_URL = DATABASE_WITH_PASSWORD
    settings.REDIS_URL = REDIS_WITH_PASSWORD
    settings.CELERY_BROKER_URL = REDIS_WITH_PASSWORD
    settings.CELERY_RESULT_BACKEND = REDIS_WITH_PASSWORD
    settings.GRIP_URL = f"http://pushpin:{PASSWORD}@pushpin.internal:5561"
    # LocMemCache takes any LOCATION as a name, so the page shows a URL without a Redis behind it.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": REDIS_WITH_PASSWORD}}


@pytest.mark.urls(__name__)
def test_the_debug_error_page_masks_every_url_password(debug_with_passwords_in_settings):
    client = Client(raise_request_exception=False)

    response = client.post(
        "/boom/?next=" + REDIS_WITH_PASSWORD, {"callback": DATABASE_WITH_PASSWORD},
        HTTP_X_UPSTREAM=REDIS_WITH_PASSWORD,
    )

    page = response.content.decode()
    assert response.status_code == 500
    assert "ConnectionError" in page  # the technical page, with settings, locals and request
    assert PASSWORD not in page
    assert page.count("postgres://app:********@db.internal:5432/marketplace") == 2  # DATABASE_URL and the POST field
    assert "redis://default:********@10.0.0.5:6379/0" in page
    assert "rediss://:********@broker.internal:6380/0" in page
    assert "http://pushpin:********@pushpin.internal:5561" in page


def console_output(emit) -> str:
    """What the root logger's console handler (settings.LOGGING) writes while `emit` runs."""
    console = next(handler for handler in logging.getLogger().handlers if handler.name == "console")
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        emit()
    finally:
        console.setStream(previous)
    return stream.getvalue()


def test_a_logged_url_password_is_masked_in_message_arguments_and_exception():
    logger = logging.getLogger("notifications.services")

    def emit():
        logger.warning("broker %s is down", REDIS_WITH_PASSWORD)
        logger.warning("retrying with %r", {"url": DATABASE_WITH_PASSWORD})
        try:
            raise ConnectionError(f"cannot reach {DATABASE_WITH_PASSWORD}")
        except ConnectionError:
            logger.exception("database unreachable")

    output = console_output(emit)

    assert PASSWORD not in output
    assert output.splitlines()[:2] == [
        "broker redis://default:********@10.0.0.5:6379/0 is down",
        "retrying with {'url': 'postgres://app:********@db.internal:5432/marketplace'}",
    ]
    assert output.splitlines()[-1] == "ConnectionError: cannot reach postgres://app:********@db.internal:5432/marketplace"


def test_a_celery_worker_masks_url_passwords_in_its_log():
    # Celery replaces the root handlers with its own when a worker starts; set up its
    # logging the way the worker does and log through it.
    code = (
        "import logging; from celery_app import app; app.log.setup(loglevel='INFO', colorize=False); "
        f"logging.getLogger('notifications.services').warning('broker %s is down', {REDIS_WITH_PASSWORD!r})"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", "DEBUG": "true"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert result.stderr.strip().endswith("broker redis://default:********@10.0.0.5:6379/0 is down")


def test_django_request_errors_are_logged_once_and_masked_in_development():
    # With DEBUG on Django's own console handler on the "django" logger printed them too, unmasked.
    code = (
        "import logging, django; django.setup(); "
        f"logging.getLogger('django.request').error('Internal Server Error: %s', {REDIS_WITH_PASSWORD!r})"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", "DEBUG": "true"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["Internal Server Error: redis://default:********@10.0.0.5:6379/0"]
