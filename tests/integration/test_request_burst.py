"""A burst of API requests on a running ASGI server whose database allows few connections.

Under ASGI each request runs on its own thread with its own database connection;
without a bound, a burst opens one connection per request and PostgreSQL refuses
the ones past its limit (the users get 500s). The server lets at most
WEB_MAX_CONCURRENT_REQUESTS requests into Django at once; the rest wait their turn.
"""

import asyncio

import httpx
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from bench.data import capped_database_url as capped_database_url_for
from jobs.models import CleaningJob
from tests.factories import ClientFactory
from tests.integration.conftest import start_server
from tests.jobs.test_api_jobs import valid_job_payload

pytestmark = pytest.mark.integration

ROLE_CONNECTIONS = 5
BURST = 40


@pytest.fixture
def capped_database_url():
    """A login role for this test database that PostgreSQL lets open only a few connections."""
    return capped_database_url_for(role=f"{connection.settings_dict['NAME']}_capped"[:63], limit=ROLE_CONNECTIONS)


async def post_all(base: str, requests: list[tuple[str, dict]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=None)) as client:
        return await asyncio.gather(*(client.post("/api/jobs/", json=body, headers=headers) for headers, body in requests))


def test_a_burst_of_job_posts_waits_its_turn_instead_of_failing(transactional_db, clean_redis, tmp_path, capped_database_url):
    server, base = start_server(
        tmp_path, DATABASE_URL=capped_database_url, WEB_MAX_CONCURRENT_REQUESTS="3", THROTTLE_JOB_CREATE="1000/min"
    )
    try:
        clients = ClientFactory.create_batch(BURST)
        requests = [
            ({"Authorization": f"Token {Token.objects.create(user=client).key}"}, valid_job_payload(title=f"Burst job {i}"))
            for i, client in enumerate(clients)
        ]

        responses = asyncio.run(post_all(base, requests))

        assert [r.status_code for r in responses] == [201] * BURST, server.output()[-3000:]
        assert sorted(CleaningJob.objects.values_list("title", flat=True)) == sorted(f"Burst job {i}" for i in range(BURST))
        assert "too many connections" not in server.output()
    finally:
        server.stop()
