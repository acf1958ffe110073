"""What an open /events/ stream was opened with, and whether that still holds; runs on database.threads.

A stream authenticates once. Its credential (a session key, or a digest of an API
token) is kept with it so that revoking the credential closes the stream within a
moment, not only on the next reconnect (see revocation.py, and hub.py for re-checks).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http.cookie import parse_cookie

from project import prepared

from .channels import password_channel, token_channel, token_digest


@dataclass(frozen=True)
class Credential:
    user_id: int
    session_key: str | None = None
    token_digest: str | None = None
    # Names the password the user had when the stream opened (sessions only; GRIP channel).
    password_channel: str | None = None


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
    """The credential of a request (session cookie or `Authorization: Token`)."""
    return authenticate_many([headers])[0]


def authenticate_many(requests: list[dict[str, str]]) -> list[Credential | None]:
    """authenticate() for each request's headers; the API tokens among them in one query."""
    answers: list[Credential | None] = [None] * len(requests)
    by_token: dict[str, list[int]] = {}
    for i, headers in enumerate(requests):
        authorization = headers.get("authorization", "")
        if authorization:
            scheme, _, key = authorization.partition(" ")
            if scheme.lower() == "token" and key.strip():
                by_token.setdefault(key.strip(), []).append(i)
            continue
        answers[i] = _session_credential(headers)
    if by_token:
        for key, user_id in _active_token_users(list(by_token)):
            for i in by_token[key]:
                answers[i] = Credential(user_id, token_digest=token_digest(key))
    return answers


def _active_token_users(keys: list[str]) -> list[tuple[str, int]]:
    """(key, user id) of each of these API tokens whose user is active."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    if connection.vendor != "postgresql":  # SQLite, the embedded default
        return list(Token.objects.filter(key__in=keys, user__is_active=True).values_list("key", "user_id"))
    # One SQL text for any number of keys: the ORM building the query, and the token and user
    # instances, were three quarters of this read's CPU (0.47 against 0.11 ms for one stream).
    tokens, users = Token._meta.db_table, get_user_model()._meta.db_table
    with prepared.cursor() as cursor:
        cursor.execute(
            f"SELECT t.key, t.user_id FROM {tokens} t JOIN {users} u ON u.id = t.user_id "
            f"WHERE t.key = ANY(%s::text[]) AND u.is_active",
            [keys],
        )
        return cursor.fetchall()


def _session_credential(headers: dict[str, str]) -> Credential | None:
    # Exactly as Django reads cookies: one odd cookie must not hide the session's.
    session_key = parse_cookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return None
    user, session_key = _session_user(session_key)
    if user is None:
        return None
    return Credential(user.pk, session_key=session_key, password_channel=password_channel(user.pk, user.password))


def revoked(credentials: list[Credential]) -> list[bool]:
    """For each credential, whether it no longer authenticates its user."""
    from rest_framework.authtoken.models import Token

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
