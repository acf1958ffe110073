"""The benchmarks' data: the full stack they need, bench users with tokens or sessions made in bulk,
and a capped database role for the stock view."""

from django.conf import settings
from django.core.management.base import CommandError


def capped_database_url(*, role: str, limit: int) -> str:
    """A login role for this database that PostgreSQL lets open at most `limit` connections."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE ROLE "{role}" LOGIN')
        cursor.execute(f'ALTER ROLE "{role}" CONNECTION LIMIT {int(limit)}')
        cursor.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "{role}"')
        cursor.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        cursor.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
        cursor.execute(f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    host, port = connection.settings_dict.get("HOST") or "127.0.0.1", connection.settings_dict.get("PORT") or 5432
    return f"postgres://{role}@{host}:{port}/{name}"


def require_full_stack() -> None:
    if not settings.REDIS_URL or not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise CommandError(
            "Benchmarks need the full stack: set DATABASE_URL to PostgreSQL and REDIS_URL to Redis "
            "(e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/12)."
        )


# --- bench users, tokens, sessions ----------------------------------------------------------


def ensure_users(prefix: str, count: int, write=None) -> list[int]:
    """`count` active users named <prefix>000000..., created in bulk; their ids in order."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    User = get_user_model()
    existing = User.objects.filter(username__startswith=prefix).count()
    if existing < count:
        password = make_password(None)
        for start in range(existing, count, 5000):
            User.objects.bulk_create(
                [User(username=f"{prefix}{i:06d}", password=password, is_active=True) for i in range(start, min(count, start + 5000))],
                batch_size=5000,
            )
            if write:
                write(f"  {min(count, start + 5000):,} / {count:,} {prefix}* users")
    return list(User.objects.filter(username__startswith=prefix).order_by("pk").values_list("pk", flat=True)[:count])


def ensure_tokens(user_ids: list[int]) -> dict[int, str]:
    """A DRF token for each user (created in bulk where missing)."""
    from rest_framework.authtoken.models import Token

    tokens = dict(Token.objects.filter(user_id__in=user_ids).values_list("user_id", "key"))
    missing = [uid for uid in user_ids if uid not in tokens]
    if missing:
        Token.objects.bulk_create([Token(key=Token.generate_key(), user_id=uid) for uid in missing], batch_size=5000)
        tokens = dict(Token.objects.filter(user_id__in=user_ids).values_list("user_id", "key"))
    return tokens


def create_sessions(user_ids: list[int]) -> dict[int, str]:
    """A fresh logged-in database session per user, created in bulk: user id -> session key."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    store = SessionStore()
    expire = timezone.now() + timedelta(days=1)
    keys, rows = {}, []
    for user in get_user_model().objects.filter(pk__in=user_ids):
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        data = {
            "_auth_user_id": str(user.pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": user.get_session_auth_hash(),
        }
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
        keys[user.pk] = key
    Session.objects.bulk_create(rows, batch_size=5000)
    return keys


def delete_sessions(keys) -> None:
    from django.contrib.sessions.models import Session

    Session.objects.filter(session_key__in=list(keys)).delete()
