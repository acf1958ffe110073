"""Logging in and out, and the home page sending each role where it works."""

import pytest
from django.test import Client

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_renders_a_form():
    response = Client().get("/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="username"' in body and 'name="password"' in body
    assert "csrfmiddlewaretoken" in body
    # No live script for anonymous visitors.
    assert "live.js" not in body


def test_wrong_password_shows_an_error_not_a_500(client_user):
    response = Client().post("/login/", {"username": client_user.username, "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_client_lands_on_my_jobs(client_user):
    browser = Client()
    response = browser.post("/login/", {"username": client_user.username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/jobs/mine/"
    assert "My jobs" in response.content.decode()


def test_cleaner_lands_on_the_job_board(cleaner):
    browser = Client()
    response = browser.post("/login/", {"username": cleaner.username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/board/"


def test_login_honours_a_local_next_only(client_user):
    browser = Client()
    response = browser.post("/login/", {"username": client_user.username, "password": PASSWORD, "next": "/notifications/"})
    assert response["Location"] == "/notifications/"
    browser = Client()
    response = browser.post("/login/", {"username": client_user.username, "password": PASSWORD, "next": "https://evil.example/"})
    assert response["Location"] == "/"


@pytest.mark.parametrize("url", ["/", "/jobs/mine/", "/jobs/new/", "/board/", "/bids/mine/", "/notifications/", "/notifications/preferences/"])
def test_pages_need_a_login(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_logout_is_a_post(as_client):
    assert as_client.get("/logout/").status_code == 405
    response = as_client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert as_client.get("/jobs/mine/").status_code == 302


def test_every_page_has_the_logout_form_and_the_bell(as_client):
    body = as_client.get("/jobs/mine/").content.decode()
    assert 'action="/logout/"' in body
    assert 'id="bell"' in body and "live.js" in body
