"""Failed logins are limited per (username, address) and per address, over the form and the token endpoint together.

The review's reproduction: 30 wrong passwords on /login/ were 30 x 200 and the right
one still worked. Now the limit-th failure locks that username from that address
(the form says so on the page, 429; the API answers 429 with Retry-After in the
error shape) until LOGIN_LOCKOUT_SECONDS have passed. The owner, from their own
address, is not locked out by someone else's guesses; a client-sent
X-Forwarded-For neither resets the count nor names another address.
"""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from jobs import login_limits
from tests.factories import PASSWORD, ClientFactory

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.66"
OWNER = "192.0.2.10"
LOCKED_PAGE = "Too many failed logins. Try again in 15 minutes."


@pytest.fixture(autouse=True)
def limits(settings, throttle_rate):
    """Tight limits, a clean cache, and the API's plain per-address rate out of the way."""
    throttle_rate("login", "1000/min")
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 6
    settings.LOGIN_LOCKOUT_SECONDS = 900
    return settings


@pytest.fixture
def owner():
    return ClientFactory()


def form_login(username, password, address=ATTACKER, **headers):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password}, **headers)


def api_login(username, password, address=ATTACKER, **headers):
    return APIClient(REMOTE_ADDR=address).post(
        "/api/auth/token/", {"username": username, "password": password}, format="json", **headers
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response.wsgi_request.user.is_authenticated


def assert_api_locked(response, seconds=900):
    assert response.status_code == 429
    assert seconds - 5 < int(response["Retry-After"]) <= seconds
    seconds = int(response["Retry-After"])
    assert response.json() == {
        "detail": f"Too many failed logins. Expected available in {seconds} seconds.",
        "code": "throttled",
    }


def test_thirty_wrong_passwords_on_the_form_lock_the_account_from_that_address_with_the_default_limits(
    owner, settings
):
    settings.LOGIN_FAILURE_LIMIT = 5
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 50

    guesses = [form_login(owner.username, f"guess-{n}") for n in range(30)]
    right = form_login(owner.username, PASSWORD)

    assert [g.status_code for g in guesses] == [200] * 4 + [429] * 26
    assert "Please enter a correct username and password" in guesses[3].content.decode()
    for response in (guesses[4], guesses[29], right):
        assert LOCKED_PAGE in response.content.decode()
        assert 890 < int(response["Retry-After"]) <= 900
    assert right.status_code == 429
    assert not right.wsgi_request.user.is_authenticated


def test_the_token_endpoint_locks_the_same_way_in_the_error_shape(owner):
    guesses = [api_login(owner.username, f"guess-{n}") for n in range(3)]
    right = api_login(owner.username, PASSWORD)

    assert [g.status_code for g in guesses] == [400, 400, 429]
    assert guesses[0].json()["errors"] == {"non_field_errors": ["Unable to log in with provided credentials."]}
    assert_api_locked(guesses[2])
    assert_api_locked(right)
    assert not Token.objects.exists()


def test_failures_on_both_doors_add_up(owner):
    form_login(owner.username, "guess-1")
    api_login(owner.username, "guess-2")
    third = form_login(owner.username, "guess-3")

    assert third.status_code == 429
    assert_api_locked(api_login(owner.username, PASSWORD))
    assert form_login(owner.username, PASSWORD).status_code == 429
    assert not Token.objects.exists()


def test_the_owner_logs_in_from_their_own_address_while_the_guesser_is_locked(owner):
    for n in range(5):
        form_login(owner.username, f"guess-{n}")

    assert form_login(owner.username, PASSWORD).status_code == 429
    assert logged_in(form_login(owner.username, PASSWORD, address=OWNER))
    assert api_login(owner.username, PASSWORD, address=OWNER).status_code == 200


def test_a_client_sent_forwarded_for_does_not_reset_the_count(owner):
    statuses = [
        form_login(owner.username, f"guess-{n}", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(3)
    ]
    dodges = [api_login(owner.username, PASSWORD, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}") for n in range(10, 13)]

    assert statuses == [200, 200, 429]
    for response in dodges:
        assert_api_locked(response)


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(owner, settings):
    rest = dict(settings.REST_FRAMEWORK)
    rest["NUM_PROXIES"] = 1
    settings.REST_FRAMEWORK = rest
    proxy = "10.0.0.2"
    for n in range(3):
        form_login(owner.username, f"guess-{n}", address=proxy, HTTP_X_FORWARDED_FOR=ATTACKER)

    assert form_login(owner.username, PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR=ATTACKER).status_code == 429
    assert logged_in(form_login(owner.username, PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR=OWNER))


def test_guessing_across_many_usernames_locks_the_address(owner):
    statuses = [form_login(f"nobody-{n}", "guess").status_code for n in range(6)]

    assert statuses == [200] * 5 + [429]
    assert form_login(owner.username, PASSWORD).status_code == 429
    assert_api_locked(api_login(owner.username, PASSWORD))
    assert logged_in(form_login(owner.username, PASSWORD, address=OWNER))


def test_a_successful_login_clears_the_owners_own_failures(owner):
    form_login(owner.username, "typo-1", address=OWNER)
    form_login(owner.username, "typo-2", address=OWNER)
    assert logged_in(form_login(owner.username, PASSWORD, address=OWNER))

    again = [form_login(owner.username, f"typo-{n}", address=OWNER).status_code for n in range(3, 5)]

    assert again == [200, 200]


def test_the_lock_expires_after_the_lockout_and_the_count_starts_again(owner, monkeypatch):
    for n in range(3):
        form_login(owner.username, f"guess-{n}")
    locked_at = login_limits._now()
    monkeypatch.setattr(login_limits, "_now", lambda: locked_at + 600)
    still = api_login(owner.username, PASSWORD)

    monkeypatch.setattr(login_limits, "_now", lambda: locked_at + 901)
    after_one_wrong = form_login(owner.username, "guess-again")
    right = api_login(owner.username, PASSWORD)

    assert_api_locked(still, seconds=300)
    assert after_one_wrong.status_code == 200
    assert right.status_code == 200
    assert Token.objects.filter(user=owner).count() == 1


def test_the_admin_login_counts_and_locks_too(owner):
    owner.is_staff = True
    owner.save()
    admin = Client(REMOTE_ADDR=ATTACKER)
    for n in range(2):
        admin.post("/admin/login/", {"username": owner.username, "password": f"guess-{n}"})
    form_login(owner.username, "guess-2")

    right = admin.post("/admin/login/?next=/admin/", {"username": owner.username, "password": PASSWORD})

    assert right.status_code == 200
    assert LOCKED_PAGE in right.content.decode()
    assert admin.get("/admin/").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_guesses_get_no_more_password_checks_than_the_limit(owner, monkeypatch):
    import threading
    import time
    from collections import Counter

    from django.db import connection

    real_authenticate = login_limits.authenticate

    def slow_authenticate(*args, **kwargs):
        time.sleep(0.3)  # a slow hasher: every racer gets past the lock check before the first answer
        return real_authenticate(*args, **kwargs)

    monkeypatch.setattr(login_limits, "authenticate", slow_authenticate)

    from django.contrib.auth.signals import user_login_failed

    racers = 20
    barrier = threading.Barrier(racers)
    statuses = [None] * racers
    checked = []  # one entry per password actually checked (and found wrong)

    def count_check(sender, credentials, **kwargs):
        checked.append(credentials["username"])

    user_login_failed.connect(count_check)

    def guess(index):
        try:
            barrier.wait(timeout=30)
            statuses[index] = api_login(owner.username, f"guess-{index}").status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    user_login_failed.disconnect(count_check)

    # Two wrong answers (400), the third locks (429), everyone else is refused unchecked.
    assert Counter(statuses) == {400: 2, 429: racers - 2}
    assert len(checked) == 3


def test_an_unreachable_cache_lets_logins_through_unlimited_like_the_throttles(owner, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    def down(*args, **kwargs):
        raise RedisConnectionError("Redis is down")

    for name in ("get", "add", "incr", "set", "delete", "decr"):
        monkeypatch.setattr(login_limits.cache, name, down)

    wrong = [form_login(owner.username, f"guess-{n}").status_code for n in range(5)]

    assert wrong == [200] * 5
    assert logged_in(form_login(owner.username, PASSWORD))
