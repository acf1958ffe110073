"""A real SMTP server (aiosmtpd) per test, the settings that point Django's SMTP backend at it, and helpers."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from devtools.processes import free_port
from devtools.smtp_server import SmtpServer
from jobs import services as job_services
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory


@pytest.fixture
def smtp(settings):
    """A running SMTP server on a free port; Django sends real SMTP to it."""
    server = SmtpServer(free_port())
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.SITE_URL = "https://spotless.example"
    yield server
    server.stop()



@pytest.fixture
def bid_on_a_job(run):
    """bid_on_a_job() -> (client, cleaner, job, bid): a client's job with a cleaner's bid, through the services."""

    def make(**client_fields):
        client = ClientFactory(**client_fields)
        cleaner = CleanerFactory()
        job = CleaningJobFactory(client=client)
        bid = run(job_services.bid_place, job=job, cleaner=cleaner, amount=Decimal("95"))
        return client, cleaner, job, bid

    return make


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)
