"""Names of the publish channels: one per user, plus the ones a revocation is sent to."""

import hashlib

from django.utils.crypto import salted_hmac

USER_CHANNEL_PREFIX = "sse:user:"
SESSION_CHANNEL_PREFIX = "sse:session:"
TOKEN_CHANNEL_PREFIX = "sse:token:"
PASSWORD_CHANNEL_PREFIX = "sse:password:"
# Redis only: "disconnect"/"revalidate" messages for every web process's hub.
CONTROL_CHANNEL = "sse:control"


def user_channel(user_id: int) -> str:
    return f"{USER_CHANNEL_PREFIX}{user_id}"


def user_of_channel(channel: str) -> int:
    return int(channel[len(USER_CHANNEL_PREFIX):])


def session_channel(session_key: str) -> str:
    # A digest, not the key: channel names show up in Pushpin's logs and stats.
    return SESSION_CHANNEL_PREFIX + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def token_digest(key: str) -> str:
    # Held in memory and in channel names that Pushpin logs: never the key itself.
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def token_channel(digest: str) -> str:
    return TOKEN_CHANNEL_PREFIX + digest


def password_channel(user_id: int, password_hash: str) -> str:
    # The salt keeps its old module name: channels Pushpin holds must keep their names across a deploy.
    digest = salted_hmac("notifications.stream_credentials.password", f"{user_id}:{password_hash}").hexdigest()
    return PASSWORD_CHANNEL_PREFIX + digest[:32]
