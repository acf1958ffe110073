"""Who may read the metrics: the bearer token of METRICS_TOKEN, or without one, loopback clients only.

Shared by the web's /metrics (project/metrics_view.py) and the worker's own port
(project/metrics_server.py), so both doors have the same lock.
"""

import hmac
import ipaddress

from django.conf import settings


def metrics_access_allowed(*, client_address: str | None, authorization: str | None) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return _is_loopback(client_address)


def _is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address((address or "").strip("[]")).is_loopback
    except ValueError:
        return False
