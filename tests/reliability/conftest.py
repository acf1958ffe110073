import pytest

from tests.integration.conftest import database_url

from .harness import Cleanup


@pytest.fixture
def processes(transactional_db):
    """Servers and workers of a test that uses the pytest database; all stopped before it is flushed."""
    cleanup = Cleanup()
    yield cleanup
    cleanup.run()


@pytest.fixture
def bare_processes():
    """The same for a test with no pytest database (it brings its own cluster)."""
    cleanup = Cleanup()
    yield cleanup
    cleanup.run()


@pytest.fixture
def test_database_url(transactional_db) -> str:
    """The pytest database, as worker and web processes reach it."""
    return database_url()
