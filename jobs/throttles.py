"""Write rates per user, one budget for every door: the API's throttles and the pages' forms spend the same one."""

import logging
import math

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


class ScopedWriteRateThrottle(ScopedRateThrottle):
    """The view's `throttle_scope` rate, spent by writes only.

    A list and its create share one view and one scope; reading the list must not
    use up the budget for adding to it.
    """

    # DRF copies the rates into a class attribute at import time; reading them per
    # request lets settings overrides (environment, tests) take effect.
    @property
    def THROTTLE_RATES(self):
        return api_settings.DEFAULT_THROTTLE_RATES

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        try:
            return super().allow_request(request, view)
        except CACHE_UNREACHABLE:
            logger.warning("Throttle cache unreachable: %s %s let through unthrottled.", request.method, request.path)
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
