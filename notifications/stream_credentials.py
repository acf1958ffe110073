"""What an open /events/ stream was opened with, and cutting it off once that is no longer valid.

A stream authenticates once. Its credential (a session key, or a digest of an API
token) is kept with it so that revoking the credential closes the stream within a
moment, not only the next reconnect:

- a token deleted: its streams are closed (`close_token_streams`);
- a session deleted (logout, flush, admin, clearsessions): its streams are closed
  (`streams.disconnect_user` with the session key);
- a password changed: the user's streams are re-checked against the database and
  those whose credential no longer holds are closed (`revalidate_user_streams`).

Behind Pushpin the app holds no streams, so each held stream also sits on a channel
per credential (its session, its token, and for sessions the password it was opened
under) and revoking publishes a farewell and a close to that channel.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections, connection
from django.http.cookie import parse_cookie
from django.utils.crypto import salted_hmac

logger = logging.getLogger(__name__)

TOKEN_CHANNEL_PREFIX = "sse:token:"
PASSWORD_CHANNEL_PREFIX = "sse:password:"
SIGNED_OUT = {"reason": "signed out"}


@dataclass(frozen=True)
class Credential:
    user_id: int
    session_key: str | None = None
    token_digest: str | None = None
    # Names the password the user had when the stream opened (sessions only; GRIP channel).
    password_channel: str | None = None


def token_digest(key: str) -> str:
    # Held in memory and in channel names that Pushpin logs: never the key itself.
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def token_channel(digest: str) -> str:
    return TOKEN_CHANNEL_PREFIX + digest


def password_channel(user_id: int, password_hash: str) -> str:
    digest = salted_hmac("notifications.stream_credentials.password", f"{user_id}:{password_hash}").hexdigest()
    return PASSWORD_CHANNEL_PREFIX + digest[:32]


def grip_channels(credential: Credential) -> list[str]:
    """The channels besides the user's that Pushpin holds a stream on, to revoke its credential."""
    if credential.token_digest:
        return [token_channel(credential.token_digest)]
    return [credential.password_channel] if credential.password_channel else []


class _RequestShim:
    """Just enough of a request for django.contrib.auth.get_user()."""

    def __init__(self, session):
        self.session = session


def _session_user(session_key: str):
    """(the active user a session belongs to, its key) or (None, None); get_user() also checks the password hash."""
    from django.contrib.auth import get_user
    from django.utils.module_loading import import_string

    session = import_string(settings.SESSION_ENGINE + ".SessionStore")(session_key)
    user = get_user(_RequestShim(session))
    if not user.is_authenticated or not user.is_active:
        return None, None
    return user, session.session_key


def authenticate(headers: dict[str, str]) -> Credential | None:
    """The credential of a request (session cookie or `Authorization: Token`); runs in a worker thread."""
    from rest_framework.authtoken.models import Token

    close_old_connections()
    try:
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, key = authorization.partition(" ")
            if scheme.lower() != "token" or not key.strip():
                return None
            token = Token.objects.select_related("user").filter(key=key.strip()).first()
            if token is None or not token.user.is_active:
                return None
            return Credential(token.user.pk, token_digest=token_digest(token.key))
        # Exactly as Django reads cookies: one odd cookie must not hide the session's.
        session_key = parse_cookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
        if not session_key:
            return None
        user, session_key = _session_user(session_key)
        if user is None:
            return None
        return Credential(user.pk, session_key=session_key, password_channel=password_channel(user.pk, user.password))
    finally:
        # An open stream must not hold a database connection.
        connection.close()


def revoked(credentials: list[Credential]) -> list[bool]:
    """For each credential, whether it no longer authenticates its user; runs in a worker thread."""
    from rest_framework.authtoken.models import Token

    close_old_connections()
    try:
        live_tokens: dict[int, set[str]] = {}
        answers = []
        for credential in credentials:
            if credential.session_key:
                user, _ = _session_user(credential.session_key)
                answers.append(user is None or user.pk != credential.user_id)
            else:
                if credential.user_id not in live_tokens:
                    keys = Token.objects.filter(user_id=credential.user_id, user__is_active=True).values_list("key", flat=True)
                    live_tokens[credential.user_id] = {token_digest(key) for key in keys}
                answers.append(credential.token_digest not in live_tokens[credential.user_id])
        return answers
    finally:
        connection.close()


# --- on the event loop: re-checking one user's open streams ----------------------------

_revalidations: set[asyncio.Task] = set()


def schedule_revalidation(hub, user_id: int) -> None:
    """Called by the hub for a "revalidate" control message."""
    task = asyncio.get_running_loop().create_task(_revalidate(hub, user_id))
    _revalidations.add(task)
    task.add_done_callback(_revalidations.discard)


async def _revalidate(hub, user_id: int) -> None:
    from asgiref.sync import sync_to_async

    listeners = hub.listeners_of(user_id)
    if not listeners:
        return
    try:
        answers = await sync_to_async(revoked, thread_sensitive=False)([listener.credential for listener in listeners])
    except Exception:  # noqa: BLE001 - the database is down: keep the streams, the next reconnect re-checks
        logger.warning("Could not re-check the streams of user %s", user_id, exc_info=True)
        return
    for listener, gone in zip(listeners, answers):
        if gone:
            listener.close("disconnected")


# --- behind Pushpin: a token revoked before Pushpin subscribed ------------------------------


def recheck_held_token_stream(credential: Credential, *, delay: float) -> None:
    """Re-check a token stream Pushpin holds once Pushpin has surely subscribed to its channel.

    A close published to the token's channel before Pushpin subscribed to it is lost; the
    opening's catch-up does the same re-check for session streams.
    """
    if credential.token_digest:
        task = asyncio.get_running_loop().create_task(_recheck_held_token_stream(credential, delay))
        _revalidations.add(task)
        task.add_done_callback(_revalidations.discard)


async def _recheck_held_token_stream(credential: Credential, delay: float) -> None:
    from asgiref.sync import sync_to_async

    await asyncio.sleep(delay)
    try:
        [gone] = await sync_to_async(revoked, thread_sensitive=False)([credential])
        if gone:
            await sync_to_async(_grip_close, thread_sensitive=False)(token_channel(credential.token_digest))
    except Exception:  # noqa: BLE001 - best effort, like the catch-up; the next reconnect is refused
        logger.warning("Could not re-check a held token stream of user %s", credential.user_id, exc_info=True)


# --- publishing a revocation (any process) ------------------------------------------------


def _grip_close(channel: str) -> None:
    """Tell the streams Pushpin holds on a channel why, then close them (their reconnect gets a 403)."""
    from . import streams

    farewell = streams.encode_frame("stream-error", streams._dumps(SIGNED_OUT))
    streams._grip_publish([(channel, {"http-stream": {"content": farewell}}), (channel, {"http-stream": {"action": "close"}})])


def _broadcast(*, user_id: int, grip_channel: str, control: dict) -> None:
    """Tell every web process (or Pushpin) to act on one user's streams."""
    from . import streams

    try:
        if settings.GRIP_URL:
            _grip_close(grip_channel)
        elif settings.REDIS_URL:
            streams._redis_client().publish(streams.CONTROL_CHANNEL, streams._dumps(control))
        else:
            streams.hub.control_threadsafe(streams._dumps(control))
    except Exception:  # noqa: BLE001 - the credential is gone anyway; the next reconnect is refused
        logger.warning("Could not cut off the streams of user %s", user_id, exc_info=True)


def close_token_streams(*, user_id: int, token_key: str) -> None:
    digest = token_digest(token_key)
    _broadcast(
        user_id=user_id,
        grip_channel=token_channel(digest),
        control={"action": "disconnect", "user_id": user_id, "token_digest": digest},
    )


def revalidate_user_streams(*, user_id: int, old_password_hash: str) -> None:
    """After a password change: close the streams opened under the old password."""
    _broadcast(
        user_id=user_id,
        grip_channel=password_channel(user_id, old_password_hash),
        control={"action": "revalidate", "user_id": user_id},
    )
