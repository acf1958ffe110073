"""Celery's Redis transport (kombu's), keeping one redis.Redis per channel for the commands it sends.

kombu builds a new redis.Redis around the channel's connection pool for every message it
publishes: 0.1 ms of CPU each, two per bid (the task and its task-sent event). A redis.Redis
holds no connection of its own (each command borrows one from the pool), so one per pool
serves them all. The consumer's blocking client (BRPOP, pub/sub) is kombu's, unchanged.
"""

from kombu.transport import redis


class Channel(redis.Channel):
    _kept_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        # kombu replaces the pool after a fork or a failed connect: a client follows its pool.
        client = self._kept_client
        if client is None or client.connection_pool is not self.pool:
            client = self._kept_client = super()._create_client()
        return client


class Transport(redis.Transport):
    Channel = Channel
