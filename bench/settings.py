"""django-eventstream's settings for the stock path that bench_streams measures (read by project/settings.py).

Plain values, no Django imports: it is read while the settings load.
"""

from urllib.parse import urlsplit

# What the bench adds to INSTALLED_APPS: the stock baseline, and the commands themselves.
BENCH_APPS = ["django_eventstream", "bench"]


def stock_eventstream_settings(redis_url: str) -> dict:
    """The obvious setup of django-eventstream: events stored in the database (DjangoModelStorage),
    published through our Redis, one channel per user (bench.stock.StockChannelManager)."""
    redis = urlsplit(redis_url)
    return {
        "EVENTSTREAM_STORAGE_CLASS": "django_eventstream.storage.DjangoModelStorage",
        "EVENTSTREAM_CHANNELMANAGER_CLASS": "bench.stock.StockChannelManager",
        "EVENTSTREAM_REDIS": {"host": redis.hostname or "127.0.0.1", "port": redis.port or 6379, "db": int(redis.path.strip("/") or 0)},
    }
