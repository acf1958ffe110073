import pytest
from rest_framework.test import APIClient


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def api_as():
    """api_as(user) -> an APIClient authenticated as that user (session-less force auth)."""

    def make(user):
        client = APIClient()
        client.force_authenticate(user=user)
        return client

    return make
