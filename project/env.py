"""Settings read from the environment, each validated when the settings load.

Every variable the project reads goes through one of these helpers. A bad value stops
the process at start-up with one line that names the variable and what it accepts
(ImproperlyConfigured), instead of a traceback from a bare int() or, worse, a quietly
different value (a typo such as DEBUG=ture is refused, not read as off).

Unset means the default. Set but empty counts as a value: refused where a number,
a switch or a rate is expected; an empty string, list or URL otherwise (docker compose
passes `${VAR:-}` as an empty string).
"""

import os
import re
import sys
import zoneinfo
from collections.abc import Collection, Sequence
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from project.redaction import mask_url_passwords

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
# What DRF's throttles parse: requests per second, minute, hour or day.
RATE_PATTERN = re.compile(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)")
WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def invalid(name: str, accepts: str, raw: str) -> ImproperlyConfigured:
    """The one-line start-up error for a bad value (a password inside a URL is not echoed)."""
    return ImproperlyConfigured(f"{name} must be {accepts}, got {mask_url_passwords(raw)!r}")


def env_str(name: str, default: str = "", *, pattern: str | None = None, accepts: str = "") -> str:
    """The raw value; with `pattern`, it (or the empty string) must match it whole."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    if pattern is not None and raw and not re.fullmatch(pattern, raw):
        raise invalid(name, accepts or f"text matching {pattern}", raw)
    return raw


def env_choice(name: str, default: str, choices: Collection[str], *, accepts: str = "") -> str:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw not in choices:
        raise invalid(name, accepts or "one of " + ", ".join(sorted(choices)), raw)
    return raw


def env_timezone(name: str, default: str) -> str:
    """An IANA zone name, checked against the zone database (only when set: listing it costs 0.1 s)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise invalid(name, "an IANA time zone such as Europe/Amsterdam", raw) from None
    return raw


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise invalid(name, f"one of {'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)}", raw)


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = int(raw.strip()) if WHOLE_NUMBER.fullmatch(raw.strip()) else None
    if value is None or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise invalid(name, "a whole number" + _bounds(minimum, maximum), raw)
    return value


def env_seconds(name: str, default: float) -> float:
    """A positive number of seconds, fractions allowed (e.g. 0.5)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):  # also refuses nan
        raise invalid(name, "a number of seconds above 0", raw)
    return value


def _bounds(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def env_list(name: str, default: Sequence[str] = (), *, pattern: str | None = None, accepts: str = "") -> list[str]:
    """Comma-separated; blanks around items and empty items are dropped; with `pattern`, each item must match it."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if pattern is not None and not all(re.fullmatch(pattern, item) for item in items):
        raise invalid(name, accepts or f"a comma-separated list of items matching {pattern}", raw)
    return items


def env_rate(name: str, default: str) -> str:
    """A DRF throttle rate such as `30/min`."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    if not RATE_PATTERN.fullmatch(raw.strip()):
        raise invalid(name, "a rate such as 30/min (requests >= 1 per s, min, hour or day)", raw)
    return raw.strip()


def env_url(name: str, default: str = "", *, schemes: Sequence[str]) -> str:
    """A URL with one of `schemes`, or empty (unset)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    if not raw:
        return ""
    accepts = "a URL starting with " + " or ".join(f"{scheme}://" for scheme in schemes)
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise invalid(name, accepts, raw) from None
    if parts.scheme not in schemes or not raw.startswith(f"{parts.scheme}://"):
        raise invalid(name, accepts, raw)
    return raw


def load_settings_or_exit() -> None:
    """Load the settings now; a bad one stops the process with just its message, exit status 2.

    For the entry points (manage.py, ASGI, WSGI, Celery), which would otherwise show
    a long traceback that ends, somewhere, in the one line that matters.
    """
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - importing the settings module validates every value
    except ImproperlyConfigured as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None
