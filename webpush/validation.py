"""What a browser's subscription must be before it is stored: an endpoint we may POST to, and real keys."""

import ipaddress
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from project.exceptions import InvalidInput

from .models import PushSubscription
from .vapid import b64url_decode

ENDPOINT_MAX_CHARS = PushSubscription._meta.get_field("endpoint").max_length
USER_AGENT_MAX_CHARS = PushSubscription._meta.get_field("user_agent").max_length
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
P256_POINT_BYTES = 65  # uncompressed: 0x04, x, y
AUTH_SECRET_BYTES = 16  # RFC 8291 §3.2


def insecure_endpoints_allowed() -> bool:
    return settings.DEBUG or settings.WEBPUSH_ALLOW_INSECURE_ENDPOINTS


def endpoint_validate(endpoint: str) -> str:
    """The endpoint as given, or InvalidInput saying why we will not send there."""
    def refuse(why: str):
        return InvalidInput(f"The push endpoint {why}.", field="endpoint")

    if not isinstance(endpoint, str) or not endpoint:
        raise refuse("is missing")
    if len(endpoint) > ENDPOINT_MAX_CHARS:
        raise refuse(f"is longer than {ENDPOINT_MAX_CHARS} characters")
    if not endpoint.isascii() or any(ch.isspace() or ord(ch) < 32 for ch in endpoint):
        raise refuse("is not a URL")
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise refuse("is not a URL") from None
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.password is not None:
        raise refuse("is not a push service URL")
    if host in LOOPBACK_HOSTS:
        if not insecure_endpoints_allowed() or parts.scheme not in ("http", "https"):
            raise refuse("points at this machine")
        return endpoint
    if parts.scheme != "https":
        raise refuse("must be an https:// URL")
    if _is_ip_literal(host):
        raise refuse("must name a push service, not an address")
    allowed = settings.WEBPUSH_ENDPOINT_HOSTS
    if allowed and not any(host == entry or (entry.startswith(".") and host.endswith(entry)) for entry in allowed):
        raise refuse(f"is not on a known push service ({host})")
    return endpoint


def keys_validate(*, p256dh: str, auth: str) -> None:
    """p256dh: a P-256 public key as a 65-byte uncompressed point on the curve; auth: 16 bytes; both base64url."""
    try:
        point = b64url_decode(p256dh)
    except ValueError:
        raise InvalidInput("The p256dh key is not base64url.", field="p256dh") from None
    if len(point) != P256_POINT_BYTES or point[0] != 4:
        raise InvalidInput(f"The p256dh key must be a {P256_POINT_BYTES}-byte uncompressed P-256 point.", field="p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise InvalidInput("The p256dh key is not a point on the P-256 curve.", field="p256dh") from None
    try:
        secret = b64url_decode(auth)
    except ValueError:
        raise InvalidInput("The auth secret is not base64url.", field="auth") from None
    if len(secret) != AUTH_SECRET_BYTES:
        raise InvalidInput(f"The auth secret must be {AUTH_SECRET_BYTES} bytes.", field="auth")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
