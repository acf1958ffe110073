"""Shared pieces of the abuse and bad-input suite.

The stream tests need the integration fixtures (a real ASGI server on the pytest
database, the real Redis); they are re-exported here so tests/security can use
them by name.
"""

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from jobs.models import CleaningJob, JobBid, JobMessage, Payment
from notifications.models import Notification, NotificationPreference, OutboxEvent, QuietHours, QuietHoursWindow
from tests.integration.conftest import clean_redis, live_server_url, redis_client, shared_server  # noqa: F401

STORED_MODELS = (
    CleaningJob, JobBid, Payment, JobMessage, Notification, NotificationPreference, OutboxEvent, QuietHours, QuietHoursWindow, Token
)


def row_counts() -> dict[str, int]:
    """How many rows each table a write could touch holds."""
    return {model.__name__: model.objects.count() for model in STORED_MODELS}


def raw_json_with(payload: dict, field: str, raw: str) -> str:
    """`payload` as JSON text with `field`'s value replaced by `raw`, verbatim.

    For values json.dumps cannot produce: lone surrogates, 1e309, 5,000-digit integers.
    """
    import json

    marker = "\u0001RAW\u0001"
    text = json.dumps({**payload, field: marker})
    return text.replace(json.dumps(marker), raw)


@pytest.fixture
def fresh_throttles():
    cache.clear()
    yield
    cache.clear()


def pytest_terminal_summary(terminalreporter):
    """How much the schemathesis run sent, when it ran (see test_fuzz_schema.py)."""
    import sys

    fuzz = sys.modules.get("tests.security.test_fuzz_schema")
    if fuzz is not None and fuzz.REQUESTS:
        terminalreporter.write_line(
            f"schemathesis: {sum(fuzz.REQUESTS.values())} requests over {len(fuzz.REQUESTS)} operations, as a client and a cleaner; "
            f"statuses {dict(sorted(fuzz.STATUSES.items()))}"
        )
