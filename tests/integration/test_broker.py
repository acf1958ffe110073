"""project/broker.py: kombu's Redis transport with its publishing client kept, on the real Redis."""

import pytest
from kombu import Connection

from celery_app import app as celery_app
from project.broker import Channel
from tests.integration.conftest import REDIS_URL


@pytest.fixture
def connection(redis_client):
    with Connection(REDIS_URL, transport="project.broker:Transport") as conn:
        yield conn


def test_messages_published_through_one_kept_client_all_arrive_in_order(connection):
    queue = connection.SimpleQueue("test-broker-kept-client")
    queue.clear()
    channel = connection.default_channel
    assert isinstance(channel, Channel)
    clients = set()
    for n in range(50):
        queue.put({"n": n})
        clients.add(id(channel._create_client()))
    assert len(clients) == 1
    received = []
    for _ in range(50):
        message = queue.get(timeout=5)
        received.append(message.payload["n"])
        message.ack()
    assert received == list(range(50))
    queue.close()


def test_the_client_follows_a_new_pool(connection):
    channel = connection.default_channel
    before = channel._create_client()
    channel._disconnect_pools()  # what kombu does after a fork or a failed connect
    after = channel._create_client()
    assert after is not before and after.connection_pool is channel.pool
    assert after.ping()


def test_celery_uses_it_with_a_redis_broker(settings):
    assert settings.CELERY_BROKER_TRANSPORT == ("project.broker:Transport" if settings.CELERY_BROKER_URL.startswith("redis://") else None)
    assert celery_app.conf.broker_transport == settings.CELERY_BROKER_TRANSPORT
