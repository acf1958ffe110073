"""Settings read from the environment refuse values that would break the app.

A bad value stops every entry point (manage.py, the ASGI app under uvicorn, Celery)
before it serves anything: exit status 2 and one line on stderr naming the variable
and what it accepts, no traceback.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Settings that apply only in production (DEBUG off) need it off to be read at all.
PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "x" * 50}


def run(args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
        capture_output=True, text=True, timeout=60,
    )


def load_settings(**env) -> subprocess.CompletedProcess:
    return run(["-c", "import django; django.setup(); from django.conf import settings; print(settings.WEB_MAX_CONCURRENT_REQUESTS)"], **env)


BAD_VALUES = [
    ({"DEBUG": "ture"}, "DEBUG must be one of 1/true/yes/on or 0/false/no/off, got 'ture'"),
    ({"DEBUG": ""}, "DEBUG must be one of 1/true/yes/on or 0/false/no/off, got ''"),
    ({**PRODUCTION, "SECURE_SSL_REDIRECT": "yes please"}, "SECURE_SSL_REDIRECT must be one of 1/true/yes/on or 0/false/no/off, got 'yes please'"),
    ({**PRODUCTION, "SECURE_HSTS_SECONDS": "1y"}, "SECURE_HSTS_SECONDS must be a whole number >= 0, got '1y'"),
    ({**PRODUCTION, "SECURE_HSTS_INCLUDE_SUBDOMAINS": "2"}, "SECURE_HSTS_INCLUDE_SUBDOMAINS must be one of 1/true/yes/on or 0/false/no/off, got '2'"),
    ({**PRODUCTION, "SECURE_HSTS_PRELOAD": "si"}, "SECURE_HSTS_PRELOAD must be one of 1/true/yes/on or 0/false/no/off, got 'si'"),
    ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}, "SECURE_PROXY_SSL_HEADER must be HEADER,value such as HTTP_X_FORWARDED_PROTO,https, got 'X-Forwarded-Proto'"),
    ({"STREAM_GC_FREEZE": "nope"}, "STREAM_GC_FREEZE must be one of 1/true/yes/on or 0/false/no/off, got 'nope'"),
    ({"BENCH_STOCK_EVENTSTREAM": "y"}, "BENCH_STOCK_EVENTSTREAM must be one of 1/true/yes/on or 0/false/no/off, got 'y'"),
    ({"WEB_MAX_CONCURRENT_REQUESTS": "0"}, "WEB_MAX_CONCURRENT_REQUESTS must be a whole number >= 1, got '0'"),
    ({"WEB_MAX_CONCURRENT_REQUESTS": "-3"}, "WEB_MAX_CONCURRENT_REQUESTS must be a whole number >= 1, got '-3'"),
    ({"WEB_MAX_CONCURRENT_REQUESTS": "many"}, "WEB_MAX_CONCURRENT_REQUESTS must be a whole number >= 1, got 'many'"),
    ({"WEB_MAX_CONCURRENT_REQUESTS": ""}, "WEB_MAX_CONCURRENT_REQUESTS must be a whole number >= 1, got ''"),
    ({"FANOUT_CHUNK_SIZE": "abc"}, "FANOUT_CHUNK_SIZE must be a whole number >= 1, got 'abc'"),
    ({"FANOUT_CHUNK_SIZE": "0"}, "FANOUT_CHUNK_SIZE must be a whole number >= 1, got '0'"),
    ({"LOGIN_FAILURE_LIMIT": "five"}, "LOGIN_FAILURE_LIMIT must be a whole number >= 1, got 'five'"),
    ({"LOGIN_LOCKOUT_SECONDS": "0"}, "LOGIN_LOCKOUT_SECONDS must be a whole number >= 1, got '0'"),
    ({"SSE_MAX_STREAMS_PER_USER": "ten"}, "SSE_MAX_STREAMS_PER_USER must be a whole number >= 1, got 'ten'"),
    ({"SSE_MAX_STREAMS_PER_PROCESS": "-1"}, "SSE_MAX_STREAMS_PER_PROCESS must be a whole number >= 1, got '-1'"),
    ({"GEOCODER": "google"}, "GEOCODER must be one of gazetteer, nominatim, got 'google'"),
    ({"METRICS_WORKER_PORT": "70000"}, "METRICS_WORKER_PORT must be a whole number from 0 to 65535, got '70000'"),
    ({"NOTIFICATION_RECEIPTS_MAX_IDS": "many"}, "NOTIFICATION_RECEIPTS_MAX_IDS must be a whole number >= 1, got 'many'"),
    ({"THROTTLE_NOTIFICATION_RECEIPTS": "120"}, "THROTTLE_NOTIFICATION_RECEIPTS must be a rate such as 30/min (requests >= 1 per s, min, hour or day), got '120'"),
    ({"GEOCODER_CACHE_SECONDS": "1d"}, "GEOCODER_CACHE_SECONDS must be a whole number >= 1, got '1d'"),
    ({"GEOCODER_NOMINATIM_URL": "nominatim.local"}, "GEOCODER_NOMINATIM_URL must be a URL starting with http:// or https://, got 'nominatim.local'"),
    ({"DATA_UPLOAD_MAX_MEMORY_SIZE": "256k"}, "DATA_UPLOAD_MAX_MEMORY_SIZE must be a whole number >= 1, got '256k'"),
    ({"NUM_PROXIES": "-1"}, "NUM_PROXIES must be a whole number >= 0, got '-1'"),
    ({"THROTTLE_JOB_CREATE": "30 per minute"}, "THROTTLE_JOB_CREATE must be a rate such as 30/min (requests >= 1 per s, min, hour or day), got '30 per minute'"),
    ({"THROTTLE_BID_PLACE": "0/min"}, "THROTTLE_BID_PLACE must be a rate such as 30/min (requests >= 1 per s, min, hour or day), got '0/min'"),
    ({"THROTTLE_MESSAGE_SEND": "60"}, "THROTTLE_MESSAGE_SEND must be a rate such as 30/min (requests >= 1 per s, min, hour or day), got '60'"),
    ({"THROTTLE_LOGIN": "10/fortnight"}, "THROTTLE_LOGIN must be a rate such as 30/min (requests >= 1 per s, min, hour or day), got '10/fortnight'"),
    ({"DATABASE_URL": "postgress://app@db/marketplace"}, "DATABASE_URL must be a URL starting with postgres:// or postgresql:// or sqlite://, got 'postgress://app@db/marketplace'"),
    # The message names the variable, never the password.
    ({"DATABASE_URL": "postgres://app:hunter2@db:port/marketplace"}, "DATABASE_URL must be a URL starting with postgres:// or postgresql:// or sqlite://, got 'postgres://app:********@db:port/marketplace'"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must be a URL starting with redis:// or rediss://, got 'localhost:6379'"),
    ({"GRIP_URL": "127.0.0.1:5561"}, "GRIP_URL must be a URL starting with http:// or https://, got '127.0.0.1:5561'"),
    ({"ALLOWED_HOSTS": "example.com/app"}, "ALLOWED_HOSTS must be comma-separated host names such as example.com,.example.com, got 'example.com/app'"),
    ({"CSRF_TRUSTED_ORIGINS": "cleaning.example.com"}, "CSRF_TRUSTED_ORIGINS must be comma-separated origins with a scheme such as https://cleaning.example.com, got 'cleaning.example.com'"),
    ({"TIME_ZONE": "Europe/Amsterdm"}, "TIME_ZONE must be an IANA time zone such as Europe/Amsterdam, got 'Europe/Amsterdm'"),
    ({"TIME_ZONE": "Europe"}, "TIME_ZONE must be an IANA time zone such as Europe/Amsterdam, got 'Europe'"),
    ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'verbose'"),
    ({"DEBUG": "false", "SECRET_KEY": ""}, "SECRET_KEY must be set when DEBUG is off"),
    ({"SSE_RETRY_MIN_MS": "soon"}, "SSE_RETRY_MIN_MS must be a whole number >= 0, got 'soon'"),
    ({"SSE_RETRY_MIN_MS": "5000", "SSE_RETRY_MAX_MS": "2000"}, "SSE_RETRY_MAX_MS must be at least SSE_RETRY_MIN_MS (5000), got '2000'"),
    ({"STREAM_DB_THREADS": "0"}, "STREAM_DB_THREADS must be a whole number >= 1, got '0'"),
    ({"REDIS_URL": "", "WEB_CONCURRENCY": "2"}, "WEB_CONCURRENCY must be 1 without REDIS_URL (streams on other processes would miss events), got '2'"),
]


@pytest.mark.parametrize(("env", "message"), BAD_VALUES, ids=[f"{next(reversed(env))}={env[next(reversed(env))]!r}" for env, _ in BAD_VALUES])
def test_a_bad_value_stops_manage_py_with_one_line_naming_the_variable(env, message):
    result = run(["manage.py", "check"], **env)

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [message]
    assert result.stdout == ""


def test_a_bad_value_stops_the_asgi_server_before_it_listens():
    result = run(["-m", "uvicorn", "project.asgi:application", "--port", "0"], FANOUT_CHUNK_SIZE="5k")

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == ["FANOUT_CHUNK_SIZE must be a whole number >= 1, got '5k'"]


def test_a_bad_value_stops_a_celery_worker_before_it_connects():
    result = run(["-m", "celery", "-A", "celery_app", "worker", "-Q", "fanout,default"], DEBUG="ture")

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == ["DEBUG must be one of 1/true/yes/on or 0/false/no/off, got 'ture'"]


def test_the_request_limit_is_taken_from_the_environment():
    result = load_settings(WEB_MAX_CONCURRENT_REQUESTS="7")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "7"


def test_good_values_of_every_kind_are_taken_as_given():
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "from notifications.outbox import dispatch; "
        "print(json.dumps([s.DEBUG, s.STREAM_GC_FREEZE, dispatch.FANOUT_CHUNK_SIZE, s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['login'], "
        "s.ALLOWED_HOSTS, s.CSRF_TRUSTED_ORIGINS, s.TIME_ZONE, s.REDIS_URL, s.GRIP_URL, s.SECURE_PROXY_SSL_HEADER]))"
    )
    result = run(
        ["-c", code], DEBUG=" Yes ", STREAM_GC_FREEZE="off", FANOUT_CHUNK_SIZE=" 250 ", THROTTLE_LOGIN="5/hour",
        ALLOWED_HOSTS="example.com, .example.org,", CSRF_TRUSTED_ORIGINS="https://example.com", TIME_ZONE="Europe/Amsterdam",
        REDIS_URL="redis://:pw@127.0.0.1:1/0", GRIP_URL="", SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        '[true, false, 250, "5/hour", ["example.com", ".example.org"], ["https://example.com"], "Europe/Amsterdam", '
        '"redis://:pw@127.0.0.1:1/0", "", ["HTTP_X_FORWARDED_PROTO", "https"]]'
    )


@pytest.mark.parametrize(("redis_url", "transport"), [
    ("redis://127.0.0.1:6379/0", "project.broker:Transport"),
    ("rediss://redis.example:6380/0", "None"),  # kombu's own transport keeps its TLS set-up for rediss://
])
def test_the_kept_client_broker_transport_is_used_for_plain_redis_only(redis_url, transport):
    result = run(["-c", "import django; django.setup(); from django.conf import settings; print(settings.CELERY_BROKER_TRANSPORT)"],
                 REDIS_URL=redis_url, DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == transport
