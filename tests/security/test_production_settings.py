"""Production settings (DEBUG off, the default): `check --deploy` is clean, and a real server
sends the security headers and cookie flags it promises. Development (DEBUG on, as `make run`
sets it) stays plain http.
"""

import json
import os
import secrets
import subprocess
import sys

import httpx
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from rest_framework.authtoken.models import Token

from devtools.processes import ROOT, start_web
from tests.factories import PASSWORD, ClientFactory, UserFactory
from tests.integration.conftest import service_env

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(64),  # 86 random characters
    "ALLOWED_HOSTS": "example.com",
}
# Whatever the shell running the tests has set must not leak into "production".
OVERRIDABLE = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "NUM_PROXIES")


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in OVERRIDABLE and not k.startswith("SECURE_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra)
    return env


def manage(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def settings_in(env, *names) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "project.settings"},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=clean_env(**PRODUCTION))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert "WARNING" not in result.stderr and "security." not in result.stderr


def test_check_deploy_would_catch_a_weakened_setting():
    # The check above has teeth: switching one protection off is reported.
    result = manage("check", "--deploy", "--fail-level", "WARNING",
                    env=clean_env(**PRODUCTION, SECURE_SSL_REDIRECT="false"))

    assert result.returncode == 1
    assert "security.W008" in result.stderr + result.stdout


def test_production_settings_as_the_environment_sets_them():
    values = settings_in(
        clean_env(**PRODUCTION, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https"),
        "DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
        "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SECURE",
        "CSRF_COOKIE_HTTPONLY", "CSRF_COOKIE_SAMESITE", "SECURE_PROXY_SSL_HEADER", "SECURE_CONTENT_TYPE_NOSNIFF",
        "X_FRAME_OPTIONS", "SECURE_REFERRER_POLICY", "SECURE_REDIRECT_EXEMPT",
    )

    assert values == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SECURE": True,
        # The page script reads it to send X-CSRFToken (notifications/static/notifications/live.js).
        "CSRF_COOKIE_HTTPONLY": False,
        "CSRF_COOKIE_SAMESITE": "Lax",
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_REDIRECT_EXEMPT": ["^healthz$", "^metrics$"],  # probes and Prometheus scrape over plain http
    }


def test_the_image_started_with_only_the_database_and_redis_urls_runs_with_debug_off(tmp_path):
    # What a container gets when nobody thought of DEBUG: nothing else from this machine's environment.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SECRET_KEY": PRODUCTION["SECRET_KEY"],
           "DATABASE_URL": "postgres://app:pw@db:5432/marketplace", "REDIS_URL": "redis://redis:6379/0"}

    values = settings_in(env, "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT")

    assert values == {"DEBUG": False, "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SECURE_SSL_REDIRECT": True}


def test_without_a_secret_key_the_image_refuses_to_start_rather_than_run_with_debug_on(tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "DATABASE_URL": "postgres://app:pw@db:5432/marketplace", "REDIS_URL": "redis://redis:6379/0"}

    result = manage("check", env=env)

    assert result.returncode == 2
    assert result.stderr.splitlines() == ["SECRET_KEY must be set when DEBUG is off"]


def test_development_settings_stay_plain_http():
    # `make run` (DEBUG=1) serves http://127.0.0.1:8000: no redirect, no HSTS, cookies over http.
    values = settings_in(
        clean_env(DEBUG="1"), "DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER",
    )

    assert values == {
        "DEBUG": True,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_PROXY_SSL_HEADER": None,
    }


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", env=clean_env(DEBUG="false", ALLOWED_HOSTS="example.com"))

    assert result.returncode == 2
    assert result.stderr.splitlines() == ["SECRET_KEY must be set when DEBUG is off"]


# --- a real server with production settings -----------------------------------------


@pytest.fixture
def production_server(transactional_db, redis_client, tmp_path):
    env = service_env(**{**PRODUCTION, "ALLOWED_HOSTS": "127.0.0.1"}, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https")
    server, base = start_web(tmp_path, env, name="web-production")
    try:
        yield base
    finally:
        server.stop()


def cookie_attributes(response, name) -> tuple[str, set[str], dict[str, str]]:
    """(value, flag attributes, valued attributes) of the Set-Cookie for `name`."""
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = [part.strip() for part in header.split(";")]
        if first.startswith(f"{name}="):
            flags = {a.lower() for a in attributes if "=" not in a}
            valued = {a.split("=", 1)[0].lower(): a.split("=", 1)[1] for a in attributes if "=" in a}
            return first.split("=", 1)[1], flags, valued
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.get_list('set-cookie')}")


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "strict-transport-security": "max-age=31536000; includeSubDomains; preload",
}


def assert_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, dict(response.headers))


def test_production_server_redirects_http_to_https_but_lets_health_checks_through(production_server):
    redirected = httpx.get(f"{production_server}/api/jobs/?page=2", follow_redirects=False)
    health = httpx.get(f"{production_server}/healthz")
    wrong_host = httpx.get(f"{production_server}/healthz", headers={"Host": "evil.example"})

    assert redirected.status_code == 301
    assert redirected.headers["location"] == f"https://{production_server.removeprefix('http://')}/api/jobs/?page=2"
    assert health.status_code == 200
    assert wrong_host.status_code == 400


def test_production_pages_and_api_carry_the_security_headers_and_secure_cookies(production_server):
    # The server hashes with the production hashers, not the tests' fast MD5.
    staff = UserFactory(is_staff=True, is_superuser=True)
    staff.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    staff.save(update_fields=["password"])
    origin = production_server.replace("http://", "https://")
    over_tls = {"X-Forwarded-Proto": "https"}

    page = httpx.get(f"{production_server}/admin/login/", headers=over_tls)
    assert page.status_code == 200
    assert_security_headers(page)
    csrf, csrf_flags, csrf_values = cookie_attributes(page, "csrftoken")
    assert csrf_flags == {"secure"}  # readable by the page script, so not HttpOnly
    assert csrf_values["samesite"] == "Lax"

    form_token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    login = httpx.post(
        f"{production_server}/admin/login/?next=/admin/",
        data={"username": staff.username, "password": PASSWORD, "csrfmiddlewaretoken": form_token},
        headers={**over_tls, "Cookie": f"csrftoken={csrf}", "Origin": origin, "Referer": f"{origin}/admin/login/"},
    )
    assert login.status_code == 302, login.text[:500]
    assert_security_headers(login)
    _, session_flags, session_values = cookie_attributes(login, "sessionid")
    assert session_flags == {"secure", "httponly"}
    assert session_values["samesite"] == "Lax"

    key = Token.objects.create(user=ClientFactory()).key
    api = httpx.get(f"{production_server}/api/jobs/", headers={**over_tls, "Authorization": f"Token {key}"})
    assert api.status_code == 200
    assert_security_headers(api)

    refused = httpx.post(
        f"{production_server}/api/jobs/", content=b"x" * (256 * 1024 + 1),
        headers={**over_tls, "Authorization": f"Token {key}", "Content-Type": "application/json"},
    )
    assert refused.status_code == 413
    assert refused.json()["code"] == "request_too_large"
    assert_security_headers(refused)


def test_a_cross_site_form_post_is_refused_in_production(production_server):
    over_tls = {"X-Forwarded-Proto": "https"}
    page = httpx.get(f"{production_server}/admin/login/", headers=over_tls)
    csrf, _, _ = cookie_attributes(page, "csrftoken")
    form_token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]

    forged = httpx.post(
        f"{production_server}/admin/login/",
        data={"username": "x", "password": "y", "csrfmiddlewaretoken": form_token},
        headers={**over_tls, "Cookie": f"csrftoken={csrf}", "Origin": "https://evil.example"},
    )

    assert forged.status_code == 403
