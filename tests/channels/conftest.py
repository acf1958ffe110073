"""A real SMTP server (aiosmtpd) per test, the settings that point Django's SMTP backend at it, and helpers."""

import email
import email.policy
from datetime import timedelta
from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from devtools.processes import free_port
from jobs import services as job_services
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory


class RecordingHandler:
    """Keeps every accepted message; `answer` makes it refuse DATA with that SMTP reply instead."""

    def __init__(self):
        self.messages = []
        self.answer = None

    async def handle_DATA(self, server, session, envelope):
        if self.answer:
            return self.answer
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK queued"


class SmtpServer:
    def __init__(self, port: int):
        self.port = port
        self.handler = RecordingHandler()
        self.controller = None

    def start(self):
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self):
        return self.handler.messages


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
def run(django_capture_on_commit_callbacks):
    """run(fn, **kwargs): call a service and execute what it schedules on commit (tasks run in-process)."""

    def call(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return call


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
