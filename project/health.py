"""GET /healthz: the database and, when configured, Redis. 200 or 503, JSON."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_redis() -> str:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def healthz(request):
    checks = {}
    healthy = True
    probes = [("database", _check_database)]
    if settings.REDIS_URL:
        probes.append(("redis", _check_redis))
    for name, probe in probes:
        try:
            checks[name] = probe()
        except Exception as exc:  # any failure of a dependency is "unhealthy", not a 500
            checks[name] = f"error: {exc.__class__.__name__}"
            healthy = False
    if not settings.REDIS_URL:
        checks["redis"] = "not configured"
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )
