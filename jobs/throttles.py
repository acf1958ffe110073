from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


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
        return super().allow_request(request, view)
