"""project/cache.py: Django's Redis cache with one redis.Redis kept per pool, on the real Redis."""

import threading
import time

import pytest
from django.test import RequestFactory
from rest_framework.request import Request

from jobs.throttles import write_budget_wait
from project.cache import RedisCache
from tests.factories import ClientFactory
from tests.integration.conftest import REDIS_URL

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_cache(redis_client, settings):
    cache = RedisCache(REDIS_URL, {"KEY_PREFIX": "test-redis-cache"})
    cache.clear()
    yield cache
    cache.clear()


def test_it_is_djangos_cache_with_the_client_kept(redis_cache):
    redis_cache.set("k", {"a": 1}, 30)
    assert redis_cache.get("k") == {"a": 1}
    assert redis_cache.add("k", 2) is False
    assert redis_cache.add("n", 1) is True and redis_cache.incr("n") == 2
    assert redis_cache.get_many(["k", "missing"]) == {"k": {"a": 1}}
    redis_cache.delete("k")
    assert redis_cache.get("k", "gone") == "gone"
    client = redis_cache._cache.get_client(write=True)
    assert redis_cache._cache.get_client() is client
    assert redis_cache._cache.get_client("k", write=True) is client


def test_threads_share_the_client_safely(redis_cache):
    errors = []

    def work(n):
        try:
            for i in range(200):
                redis_cache.set(f"t{n}-{i}", i, 30)
                assert redis_cache.get(f"t{n}-{i}") == i
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_the_write_budget_is_counted_in_it(redis_cache, settings, monkeypatch):
    monkeypatch.setattr("rest_framework.throttling.SimpleRateThrottle.cache", redis_cache)
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "bid_place": "2/min",
    }}
    request = RequestFactory().post("/")
    request.user = ClientFactory()
    request = Request(request)
    request.user = request._request.user
    assert [write_budget_wait(request, scope="bid_place") for _ in range(3)][:2] == [None, None]
    assert write_budget_wait(request, scope="bid_place") > 0


def test_writes_at_once_spend_the_budget_once_each(redis_cache, settings, monkeypatch):
    monkeypatch.setattr("rest_framework.throttling.SimpleRateThrottle.cache", redis_cache)
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "bid_place": "5/min",
    }}
    # A cache write that takes a while (Redis under load) would keep a budget's read and write apart.
    write = RedisCache.set
    monkeypatch.setattr(RedisCache, "set", lambda self, *args, **kwargs: (time.sleep(0.05), write(self, *args, **kwargs))[1])
    user = ClientFactory()
    barrier = threading.Barrier(20)
    waits = []

    def spend():
        request = RequestFactory().post("/")
        request.user = user
        request = Request(request)
        request.user = user
        barrier.wait(timeout=30)
        waits.append(write_budget_wait(request, scope="bid_place"))

    threads = [threading.Thread(target=spend) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(waits) == 20
    assert waits.count(None) == 5
    assert all(0 < wait <= 60 for wait in waits if wait is not None)
