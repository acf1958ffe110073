"""The stock django-eventstream path that the benchmarks compare ours with (mounted only with BENCH_STOCK_EVENTSTREAM=1)."""

from django_eventstream.channelmanager import DefaultChannelManager


class StockChannelManager(DefaultChannelManager):
    """The obvious setup of django-eventstream: one channel per user, readable by that user only."""

    def get_channels_for_request(self, request, view_kwargs):
        user = getattr(request, "user", None)
        return {f"user-{user.pk}"} if user is not None and user.is_authenticated else set()

    def can_read_channel(self, user, channel):
        return user is not None and channel == f"user-{user.pk}"
