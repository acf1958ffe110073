"""Failed-login limits, one set for both doors: the /login/ form and POST /api/auth/token/.

Failures are counted per (username, client address) and per client address, in the
cache the API throttles use. Reaching LOGIN_FAILURE_LIMIT for a pair, or
LOGIN_FAILURE_LIMIT_PER_ADDRESS for an address, locks it for LOGIN_LOCKOUT_SECONDS;
then the count starts again. Keying by pair rather than by username alone means
someone who knows a username cannot lock its owner out: the owner's own address
keeps its own count. The address is the one the API throttles use (DRF's get_ident:
REMOTE_ADDR, or the NUM_PROXIES-th X-Forwarded-For hop from the right), so a
client-sent X-Forwarded-For neither resets the count nor names another client.

An attempt is counted before the password is checked, so concurrent guesses cannot
all slip past the limit; a success gives its count back.
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from .throttles import CACHE_UNREACHABLE

logger = logging.getLogger(__name__)


class LoginLocked(Exception):
    def __init__(self, wait: int):
        super().__init__(f"Login locked for {wait} s.")
        self.wait = wait

    @property
    def message(self) -> str:
        if self.wait >= 60:
            minutes = math.ceil(self.wait / 60)
            return f"Too many failed logins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        return f"Too many failed logins. Try again in {self.wait} second{'s' if self.wait != 1 else ''}."


@dataclass(frozen=True)
class _Counter:
    key: str
    limit: int

    @property
    def lock_key(self) -> str:
        return f"{self.key}:locked-until"


def _now() -> float:
    return time.time()


def client_address(request) -> str:
    """The address the API throttles key anonymous clients by (honours NUM_PROXIES)."""
    return BaseThrottle().get_ident(request)


def _counters(request, username: str) -> list[_Counter]:
    address = client_address(request)
    # Hashed: usernames may be long or hold characters a cache key must not.
    name = hashlib.sha256(username.strip().casefold().encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return [
        _Counter(f"login-failures:pair:{name}:{address}", settings.LOGIN_FAILURE_LIMIT),
        _Counter(f"login-failures:address:{address}", settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS),
    ]


def _wait(counters: list[_Counter]) -> int:
    until = max((cache.get(c.lock_key) or 0 for c in counters), default=0)
    return max(0, math.ceil(until - _now()))


def _count_attempt(counter: _Counter) -> int:
    # The count's window opens at its first failure and lasts one lockout.
    cache.add(counter.key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    try:
        return cache.incr(counter.key)
    except ValueError:  # expired between add and incr
        cache.set(counter.key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        return 1


def _lock(counters: list[_Counter]) -> LoginLocked:
    seconds = settings.LOGIN_LOCKOUT_SECONDS
    for counter in counters:
        cache.set(counter.lock_key, _now() + seconds, timeout=seconds)
        cache.delete(counter.key)
    return LoginLocked(seconds)


def _give_back(counters: list[_Counter]) -> None:
    pair, address = counters
    cache.delete(pair.key)  # the owner got in from here: their typos are forgiven
    try:
        cache.decr(address.key)
    except ValueError:  # expired meanwhile
        pass


def authenticate_within_limits(request, *, username: str, password: str):
    """Django's authenticate() behind the failed-login limits.

    Returns the user, or None for wrong credentials; raises LoginLocked (with the
    seconds to wait) when this username from this address, or this address, is locked.
    If the cache cannot be reached the login goes ahead unlimited, as the throttles do.
    """
    counters = _counters(request, username)
    try:
        if wait := _wait(counters):
            raise LoginLocked(wait)
        attempts = [_count_attempt(counter) for counter in counters]
    except CACHE_UNREACHABLE:
        logger.warning("Login limits' cache unreachable: login checked without limits.")
        return authenticate(request, username=username, password=password)
    raced = [c for c, n in zip(counters, attempts) if n > c.limit]
    if raced:  # concurrent guesses got past the lock check together
        raise _lock(raced)

    user = authenticate(request, username=username, password=password)
    try:
        if user is not None:
            _give_back(counters)
            return user
        spent = [c for c, n in zip(counters, attempts) if n >= c.limit]
        if spent:
            raise _lock(spent)
    except CACHE_UNREACHABLE:
        logger.warning("Login limits' cache unreachable: this attempt is not counted.")
    return user
