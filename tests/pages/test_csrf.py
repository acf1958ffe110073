"""Every POST form needs its CSRF token; with the token from the page it works."""

import re

import pytest
from django.test import Client

from jobs.models import CleaningJob
from tests.factories import PASSWORD, CleaningJobFactory, JobBidFactory
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db


def token_from(body: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)


def test_login_without_a_token_is_refused(client_user):
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/login/", {"username": client_user.username, "password": PASSWORD})
    assert response.status_code == 403
    token = token_from(browser.get("/login/").content.decode())
    response = browser.post("/login/", {"username": client_user.username, "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_every_client_post_needs_the_token(login, client_user):
    job = CleaningJobFactory(client=client_user)
    bid = JobBidFactory(job=job)
    note = NotificationFactory(recipient=client_user)
    browser = login(client_user, enforce_csrf_checks=True)
    urls = [
        "/jobs/new/",
        f"/bids/{bid.pk}/accept/",
        f"/bids/{bid.pk}/reject/",
        f"/jobs/{job.pk}/cancel/",
        f"/jobs/{job.pk}/pay/",
        f"/jobs/{job.pk}/messages/",
        f"/notifications/{note.pk}/read/",
        f"/notifications/{note.pk}/open/",
        "/notifications/read-all/",
        "/notifications/preferences/",
        "/notifications/preferences/quiet-hours/",
        "/logout/",
    ]
    for url in urls:
        assert browser.post(url, {}).status_code == 403, url
    note.refresh_from_db()
    assert not note.is_read


def test_every_cleaner_post_needs_the_token(login, cleaner):
    job = CleaningJobFactory()
    bid = JobBidFactory(cleaner=cleaner)
    browser = login(cleaner, enforce_csrf_checks=True)
    for url in (f"/jobs/{job.pk}/bids/", f"/bids/{bid.pk}/withdraw/", f"/jobs/{job.pk}/start/", f"/jobs/{job.pk}/complete/"):
        assert browser.post(url, {"amount": "50"}).status_code == 403, url


def test_posting_a_job_with_the_pages_token_works(login, client_user):
    from tests.pages.test_client_pages import job_data

    browser = login(client_user, enforce_csrf_checks=True)
    page = browser.get("/jobs/new/").content.decode()
    assert '<meta name="csrf-token"' in page
    response = browser.post("/jobs/new/", {**job_data(), "csrfmiddlewaretoken": token_from(page)})
    assert response.status_code == 302
    assert CleaningJob.objects.count() == 1
