"""The endpoint behind Pushpin (GRIP): Pushpin holds the stream, the app answers once and catches up.

The app checks the Grip-Sig, sends the opening with Grip-Hold and the stream's channels
(its user's, and one per credential so that revoking it closes the stream), then, once
Pushpin has surely subscribed, republishes what was stored after the opening's query.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import logging
import time

from asgiref.sync import sync_to_async
from django.conf import settings

from . import database, revocation, transports
from .channels import session_channel, user_channel
from .credentials import Credential, grip_channels
from .opening import CatchUpQuery, read_catch_up, read_opening

logger = logging.getLogger(__name__)

# A comment line when a held stream has been idle this long (Pushpin sends it).
GRIP_KEEPALIVE_SECONDS = 20
# Pushpin subscribes a stream within milliseconds of the answer; the catch-up looks this much later.
GRIP_CATCHUP_SECONDS = 2.0
# Rows created this long before the opening's query may still have been uncommitted then.
GRIP_CATCHUP_LATE_COMMIT_SECONDS = 30
_catch_ups: set[asyncio.Task] = set()


class GripSignature(enum.Enum):
    ABSENT = "absent"  # not from Pushpin
    VALID = "valid"
    INVALID = "invalid"  # a Grip-Sig that does not verify


def grip_signature(headers: dict[str, str]) -> GripSignature:
    """Whether Pushpin sent this request.

    With GRIP_SIG_KEY set (Pushpin's sig_key) the Grip-Sig JWT must verify;
    without it any Grip-Sig is trusted, which only matters when GRIP_URL is set.
    """
    signature = headers.get("grip-sig")
    if not signature:
        return GripSignature.ABSENT
    key = settings.GRIP_SIG_KEY
    if not key:
        return GripSignature.VALID
    import jwt

    key = base64.b64decode(key[7:]) if key.startswith("base64:") else key.encode()
    try:
        claims = jwt.decode(signature, key, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.PyJWTError:
        return GripSignature.INVALID
    if settings.GRIP_SIG_ISS and claims.get("iss") != settings.GRIP_SIG_ISS:
        return GripSignature.INVALID
    return GripSignature.VALID


async def grip_hold(send, credential: Credential, last_seq: int | None) -> None:
    """Answer at once and let Pushpin hold the stream on the user's channel and its credential's (to revoke it)."""
    opened_at = time.time()
    user_id, session_key = credential.user_id, credential.session_key
    opening = await database.threads.run(read_opening, user_id=user_id, last_seq=last_seq)
    channels = [user_channel(user_id)] + ([session_channel(session_key)] if session_key else [])
    channels += grip_channels(credential)
    payload = opening.body.encode()
    headers = [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache, no-transform"),
        (b"x-accel-buffering", b"no"),
        (b"grip-hold", b"stream"),
        (b"grip-channel", ", ".join(channels).encode()),
        (b"grip-keep-alive", f": keep-alive\\n\\n; format=cstring; timeout={GRIP_KEEPALIVE_SECONDS}".encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
    if not opening.reset:  # after a reset the page reloads through the API anyway
        query = CatchUpQuery(
            user_id=user_id,
            session_key=session_key,
            opening_seq=opening.seq,
            replayed=opening.replayed,
            created_since=opened_at - GRIP_CATCHUP_LATE_COMMIT_SECONDS,
            last_seq=last_seq or 0,
        )
        task = asyncio.get_running_loop().create_task(_catch_up(query))
        _catch_ups.add(task)
        task.add_done_callback(_catch_ups.discard)
    revocation.recheck_held_token_stream(credential, delay=GRIP_CATCHUP_SECONDS)


async def _catch_up(query: CatchUpQuery) -> None:
    """Once Pushpin has surely subscribed: republish what was stored after the opening's query.

    A notification committed after that query but published before Pushpin subscribed
    would otherwise never reach this stream. Other open pages of the user get the
    frame twice and drop the repeat by id. A sign-out in that window is repeated too.
    """
    try:
        await asyncio.sleep(GRIP_CATCHUP_SECONDS)
        catch_up = await database.threads.run(read_catch_up, query)
        channel = session_channel(query.session_key) if query.session_key else user_channel(query.user_id)
        pushpin = transports.current()
        if not catch_up.still_allowed:
            await sync_to_async(pushpin.close_channel, thread_sensitive=False)(channel)
        elif catch_up.frames:
            items = [(channel, {"http-stream": {"content": frame}}) for frame in catch_up.frames]
            await sync_to_async(pushpin.publish, thread_sensitive=False)(items)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - best effort; the page's own reconnect replays too
        logger.warning("GRIP catch-up for user %s failed", query.user_id, exc_info=True)
