"""Write rates per user, one budget for every door: the API's throttles and the pages' forms spend the same one."""

import logging
import math
import threading
import uuid

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

logger = logging.getLogger(__name__)

# The counters live in the cache, which is Redis when REDIS_URL is set. If it cannot be
# reached the request goes through unthrottled (fail open): a rate limit must not turn
# a Redis outage into 500s, since the write itself needs only PostgreSQL and its
# notifications wait in the outbox.
CACHE_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)

# One budget's spend on Redis, in one round trip and atomically: forget the requests older
# than the window, and count this one if fewer than the limit are left. The window is a
# sorted set of request times. Returns {1} if counted, else {0, the window's times}.
SPEND_SCRIPT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
    redis.call('ZADD', KEYS[1], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
    return {1}
end
return {0, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}
"""

# The in-process cache (the embedded default) has no script: one lock makes its read and write one step.
_IN_PROCESS_SPEND = threading.Lock()


class ScopedWriteRateThrottle(ScopedRateThrottle):
    """The view's `throttle_scope` rate, spent by writes only, one request at a time.

    A list and its create share one view and one scope; reading the list must not
    use up the budget for adding to it. DRF's own throttle reads the request times,
    then writes them back with the new one: requests that arrive together all read
    the same times and all pass (encode/django-rest-framework#5181). Here reading and
    spending are one step.
    """

    # DRF copies the rates into a class attribute at import time; reading them per
    # request lets settings overrides (environment, tests) take effect.
    @property
    def THROTTLE_RATES(self):
        return api_settings.DEFAULT_THROTTLE_RATES

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.get_cache_key(request, view)
        try:
            return self._spend()
        except CACHE_UNREACHABLE:
            logger.warning("Throttle cache unreachable: %s %s let through unthrottled.", request.method, request.path)
            return True

    def _spend(self) -> bool:
        """Count this request in the key's window if the rate allows.

        Leaves in self.history what DRF's wait() reads after a refusal: the window's times, newest first.
        """
        self.now = self.timer()
        redis_client = getattr(self.cache, "redis_client", None)
        if redis_client is not None:
            counted, *window = redis_client().register_script(SPEND_SCRIPT)(
                keys=[self.cache.make_key(f"{self.key}:window")],
                args=[self.now, self.duration, self.num_requests, uuid.uuid4().hex],
            )
            # Only a refusal needs the times (DRF's wait() reads them).
            self.history = sorted((float(at) for at in window[0][1::2]), reverse=True) if window else []
            return bool(counted)
        with _IN_PROCESS_SPEND:
            self.history = [at for at in self.cache.get(self.key, []) if at > self.now - self.duration]
            if len(self.history) >= self.num_requests:
                return False
            self.history.insert(0, self.now)
            self.cache.set(self.key, self.history, self.duration)
            return True


def write_budget_wait(request, *, scope: str) -> int | None:
    """Spend one write of `scope` from the user's budget; seconds to wait if it is spent, else None.

    For the pages' forms. It is the API's throttle itself (same rate, same cache key:
    the scope and the user's id), so the API and the forms draw on one budget.
    """
    throttle = ScopedWriteRateThrottle()
    if throttle.allow_request(request, _ScopedView(scope)):
        return None
    return max(1, math.ceil(throttle.wait() or 1))


class _ScopedView:
    """What a throttle reads from a view: its scope."""

    def __init__(self, throttle_scope: str):
        self.throttle_scope = throttle_scope
