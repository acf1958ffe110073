"""One-click unsubscribe (RFC 8058): a signed token naming a user, a type and a channel.

No login and no CSRF token: the signature is the proof, and all it can do is turn one
type's channel off for the user it names. It does not expire: an old email's link must work.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from project.exceptions import InvalidInput

from ..catalog import CATALOG, Channel

SALT = "notifications.channels.unsubscribe"


def unsubscribe_token(*, user_id: int, notification_type: str, channel: str) -> str:
    return signing.dumps({"u": user_id, "t": notification_type, "c": channel}, salt=SALT, compress=True)


def unsubscribe_url(*, user_id: int, notification_type: str, channel: str) -> str:
    token = unsubscribe_token(user_id=user_id, notification_type=notification_type, channel=channel)
    return settings.SITE_URL + reverse("notifications:unsubscribe", args=[token])


def unsubscribe_token_read(token: str) -> tuple[int, str, str]:
    """(user id, type, channel) of a genuine token; InvalidInput for anything else."""
    try:
        data = signing.loads(token, salt=SALT)
        user_id, notification_type, channel = int(data["u"]), str(data["t"]), str(data["c"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidInput("This unsubscribe link is not valid.", field="token") from None
    if notification_type not in CATALOG or channel not in Channel.values:
        raise InvalidInput("This unsubscribe link is not valid.", field="token")
    return user_id, notification_type, channel
