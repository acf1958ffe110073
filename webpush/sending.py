"""Sending one push: the payload encrypted (RFC 8291, aes128gcm) and signed (VAPID, RFC 8292) by pywebpush.

push_send never raises for what the network or the push service does: it answers a PushOutcome,
and the caller decides (retry "failed", forget the subscription on "gone"). It writes nothing to
the database: the caller records the outcome on its delivery row and calls
webpush.services.push_subscription_forget / push_subscription_mark_success.
"""

import os
import threading
from dataclasses import dataclass

import requests
from django.conf import settings
from pywebpush import WebPusher
from requests.adapters import HTTPAdapter

from .models import PushSubscription
from .payloads import payload_encode
from .vapid import vapid_authorization

# The push service no longer knows this subscription (RFC 8030 §7.3): never send to it again.
GONE_STATUSES = frozenset({404, 410})
DETAIL_MAX_CHARS = 300


@dataclass(frozen=True)
class PushOutcome:
    status: str  # "sent" | "gone" | "failed"
    http_status: int | None
    detail: str


_session_lock = threading.Lock()
_session: tuple[int, requests.Session] | None = None


def push_session() -> requests.Session:
    """This process's pooled session: keep-alive connections to each push service, shared by its threads.

    Made again in a forked child (Celery's prefork pool), which must not share its parent's sockets.
    """
    global _session
    pid = os.getpid()
    with _session_lock:
        if _session is None or _session[0] != pid:
            session = requests.Session()
            # A push service does not redirect; following one would let an endpoint point our POSTs elsewhere.
            session.max_redirects = 0
            adapter = HTTPAdapter(pool_connections=16, pool_maxsize=settings.WEBPUSH_POOL_SIZE, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _session = (pid, session)
        return _session[1]


def push_send(subscription: PushSubscription, payload: dict, *, session: requests.Session | None = None) -> PushOutcome:
    """Encrypt `payload` for this browser and POST it to its push service.

    Raises PushPayloadTooLarge for a payload over the limit (build it with payloads.push_payload).
    """
    data = payload_encode(payload)
    headers = {"Authorization": vapid_authorization(subscription.endpoint)}
    if isinstance(payload.get("notification_id"), int):
        # RFC 8030 §5.4: a repeat of this notification (a retry after a lost answer) replaces the
        # copy the push service still holds for an offline browser instead of queueing a second one.
        headers["Topic"] = f"n{payload['notification_id']}"
    pusher_info = {"endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}
    try:
        pusher = WebPusher(pusher_info, requests_session=session or push_session())
        response = pusher.send(
            data, headers, ttl=settings.WEBPUSH_TTL_SECONDS, content_encoding="aes128gcm",
            timeout=settings.WEBPUSH_TIMEOUT_SECONDS,
        )
    except requests.TooManyRedirects:
        return PushOutcome("failed", None, "the push service answered with a redirect (not followed)")
    except requests.Timeout:
        return PushOutcome("failed", None, f"timed out after {settings.WEBPUSH_TIMEOUT_SECONDS:g} s")
    except requests.RequestException as error:
        return PushOutcome("failed", None, _short(f"{type(error).__name__}: {error}"))
    except (ValueError, TypeError) as error:  # keys that do not decode (validated on subscribe, so only from a bad row)
        return PushOutcome("failed", None, _short(f"bad subscription keys: {error}"))
    code = response.status_code
    if 200 <= code < 300:
        return PushOutcome("sent", code, response.headers.get("Location", ""))
    answer = _short(f"{code} {response.reason or ''} {response.text or ''}".strip())
    if code in GONE_STATUSES:
        return PushOutcome("gone", code, answer)
    retry_after = response.headers.get("Retry-After")
    return PushOutcome("failed", code, answer + (f" (Retry-After: {retry_after})" if retry_after else ""))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_MAX_CHARS else text[: DETAIL_MAX_CHARS - 1] + "…"
