import pytest

from devtools.push_service import PushService
from webpush.vapid import vapid_keys_generate


@pytest.fixture(autouse=True)
def vapid_keys(settings):
    """A key pair of the test's own (whatever the environment has); returns (public, private)."""
    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = vapid_keys_generate()
    return settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY


@pytest.fixture
def push_service():
    """A real local push service (HTTP on 127.0.0.1) for this test."""
    with PushService() as service:
        yield service
