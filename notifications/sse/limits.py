"""Admitting a new /events/ stream into this process's hub (passed in): caps, and failing cleanly.

- Per process (SSE_MAX_STREAMS_PER_PROCESS): past it, 503 with Retry-After; the page's
  EventSource retries on its own and another web process may take it.
- Per user (SSE_MAX_STREAMS_PER_USER): one more closes that user's oldest stream rather than
  refusing the new one: the tab just opened (or just looked at) is the one the user expects
  to be live. The closed one gets a `stream_error` frame, on which the page stops instead of
  reconnecting (a reconnect would close the next oldest, and so on round the tabs).
  Counted per web process: with N processes a user may hold up to N times the cap.
- Redis unreachable while subscribing: 503 with Retry-After, and the listener is detached
  again so a failed open leaves nothing behind.

Behind Pushpin (GRIP) the app holds no streams and never hears when one closes, so these
caps do not apply there; Pushpin's own connection limits do.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings

logger = logging.getLogger(__name__)

SUPERSEDED = "superseded"
PROCESS_FULL_RETRY_SECONDS = 10
UNAVAILABLE_RETRY_SECONDS = 5


async def _refuse(send, *, retry_after: int, detail: str, code: str) -> None:
    payload = json.dumps({"detail": detail, "code": code}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"retry-after", str(retry_after).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _close_oldest_beyond_cap(hub, listener) -> None:
    open_streams = [other for other in hub.listeners_of(listener.user_id) if other.closed_reason is None]
    excess = len(open_streams) - settings.SSE_MAX_STREAMS_PER_USER
    if excess > 0:
        for oldest in sorted(open_streams, key=lambda other: other.opened)[:excess]:
            oldest.close(SUPERSEDED)


async def admit(hub, listener, send) -> bool:
    """Attach the listener, or answer 503 and leave the hub as it was. True when attached."""
    # No await between this count and attach() adding the listener: the cap is exact.
    if hub.open_streams >= settings.SSE_MAX_STREAMS_PER_PROCESS:
        await _refuse(
            send, retry_after=PROCESS_FULL_RETRY_SECONDS, code="streams_full",
            detail="This server holds as many live streams as it can; retry shortly.",
        )
        return False
    try:
        # Subscribe before reading the database, so nothing falls between replay and live.
        await hub.attach(listener)
    except Exception:  # noqa: BLE001 - Redis unreachable or too slow to confirm the subscription
        logger.warning("Could not subscribe a stream for user %s", listener.user_id, exc_info=True)
        await hub.detach(listener)
        await _refuse(
            send, retry_after=UNAVAILABLE_RETRY_SECONDS, code="stream_unavailable",
            detail="Live updates are unavailable right now; retry shortly.",
        )
        return False
    except BaseException:  # cancelled while subscribing (the client left, or shutdown)
        await hub.detach(listener)
        raise
    _close_oldest_beyond_cap(hub, listener)
    return True
