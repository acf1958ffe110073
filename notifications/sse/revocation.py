"""Cutting off the open streams of a credential that no longer holds (any process).

- a session deleted (logout, flush, admin, clearsessions): its streams are closed
  (`disconnect_user` with the session key; a deactivated user: all of theirs);
- a token deleted: its streams are closed (`close_token_streams`);
- a password changed: the user's streams are re-checked against the database and
  those whose credential no longer holds are closed (`revalidate_user_streams`).

Each is one transport.cut_off: a control message for the hubs (Redis or in-process),
or, behind Pushpin (which holds the streams, not the app), a farewell and a close on the
channel the stream was held on for that credential (its session, token or password).
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async

from . import database, transports
from .channels import password_channel, session_channel, token_channel, token_digest, user_channel
from .credentials import Credential, revoked

logger = logging.getLogger(__name__)


def _cut_off(*, user_id: int, control: dict, grip_channel: str) -> None:
    try:
        transports.current().cut_off(control=control, grip_channel=grip_channel)
    except Exception:  # noqa: BLE001 - the credential is gone anyway; the next reconnect is refused
        logger.warning("Could not cut off the streams of user %s", user_id, exc_info=True)


def disconnect_user(*, user_id: int, session_key: str | None = None) -> None:
    """Close a user's open streams (all of them, or those of one session): logout, deactivation."""
    _cut_off(
        user_id=user_id,
        grip_channel=session_channel(session_key) if session_key else user_channel(user_id),
        control={"action": "disconnect", "user_id": user_id, "session_key": session_key},
    )


def close_token_streams(*, user_id: int, token_key: str) -> None:
    digest = token_digest(token_key)
    _cut_off(
        user_id=user_id,
        grip_channel=token_channel(digest),
        control={"action": "disconnect", "user_id": user_id, "token_digest": digest},
    )


def revalidate_user_streams(*, user_id: int, old_password_hash: str) -> None:
    """After a password change: close the streams opened under the old password."""
    _cut_off(
        user_id=user_id,
        grip_channel=password_channel(user_id, old_password_hash),
        control={"action": "revalidate", "user_id": user_id},
    )


# --- behind Pushpin: a token revoked before Pushpin subscribed ------------------------------

_rechecks: set[asyncio.Task] = set()


def recheck_held_token_stream(credential: Credential, *, delay: float) -> None:
    """Re-check a token stream Pushpin holds once Pushpin has surely subscribed to its channel.

    A close published to the token's channel before Pushpin subscribed to it is lost; the
    opening's catch-up does the same re-check for session streams.
    """
    if credential.token_digest:
        task = asyncio.get_running_loop().create_task(_recheck_held_token_stream(credential, delay))
        _rechecks.add(task)
        task.add_done_callback(_rechecks.discard)


async def _recheck_held_token_stream(credential: Credential, delay: float) -> None:
    await asyncio.sleep(delay)
    try:
        [gone] = await database.threads.run(revoked, [credential])
        if gone:
            await sync_to_async(_cut_off, thread_sensitive=False)(
                user_id=credential.user_id, control={}, grip_channel=token_channel(credential.token_digest)
            )
    except Exception:  # noqa: BLE001 - best effort, like the catch-up; the next reconnect is refused
        logger.warning("Could not re-check a held token stream of user %s", credential.user_id, exc_info=True)
