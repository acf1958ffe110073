"""GET /healthz: the database and, when configured, Redis. 200 or 503, JSON.

Failed outbox work (notifications that gave up) and a missing notification partition for
next month (PostgreSQL: beat's partitions_maintain has not run) make it "degraded", still 200.
"""

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
    status = "ok" if healthy else "unavailable"
    if healthy:
        checks["outbox"] = _check_outbox()
        checks["partitions"] = _check_partitions()
        if checks["outbox"] != "ok" or checks["partitions"] != "ok":
            status = "degraded"
    # Failed fan-outs are for an operator to look at, not a reason for the load
    # balancer to pull a web process that serves everything else fine: still 200.
    return JsonResponse({"status": status, "checks": checks}, status=200 if healthy else 503)


def _check_outbox() -> str:
    from notifications.outbox.failures import outbox_failed_event_count

    failed = outbox_failed_event_count()
    if not failed:
        return "ok"
    return f"{failed} failed event{'s' if failed != 1 else ''} (admin: outbox events, status Failed)"


def _check_partitions() -> str:
    from notifications.partitions import months_ahead

    ahead = months_ahead()
    if ahead >= 1:
        return "ok"
    if ahead == 0:
        return "no notification partition for next month yet (beat: notifications.partitions_maintain)"
    return "no notification partition for this month: notifications cannot be stored (manage.py partitions_maintain)"
