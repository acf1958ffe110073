import pytest
from django.test import Client

from tests.factories import CleanerFactory, ClientFactory


@pytest.fixture
def client_user(db):
    return ClientFactory(first_name="Anna")


@pytest.fixture
def cleaner(db):
    return CleanerFactory(first_name="Ben")


@pytest.fixture
def login():
    """login(user) -> a django.test.Client signed in as that user."""

    def make(user, **kwargs):
        browser = Client(**kwargs)
        browser.force_login(user)
        return browser

    return make


@pytest.fixture
def as_client(login, client_user):
    return login(client_user)


@pytest.fixture
def as_cleaner(login, cleaner):
    return login(cleaner)
